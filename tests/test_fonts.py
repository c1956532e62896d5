"""Lesson figures with Chinese labels: the pinned font package is installed and matplotlib draws its glyphs."""
import subprocess
import sys
import warnings

LABEL = "注意力权重：缩放前后的方差（训练步数 −1）"


def _draw(tmp_path, name):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([-1, 0, 1], [1, -1, 0], label="学习率")
    ax.set_title(LABEL)
    ax.set_xlabel("步数")
    ax.legend()
    try:
        fig.savefig(tmp_path / name)
    finally:
        plt.close(fig)


def test_packaged_font_is_installed():
    from tasks.fonts import INSTALL_HINT, packaged_font_path

    assert packaged_font_path() is not None, INSTALL_HINT


def test_chinese_label_has_every_glyph(tmp_path):
    import matplotlib

    from tasks.fonts import use_cjk_font

    with matplotlib.rc_context():
        name = use_cjk_font()
        assert name, "no Chinese font found"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _draw(tmp_path, "zh.png")
        missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
        assert not missing, missing
        assert (tmp_path / "zh.png").stat().st_size > 1000


def test_the_check_would_catch_missing_glyphs(tmp_path):
    """Without the Chinese font, matplotlib warns "Glyph ... missing from font" (what the test above rules out)."""
    import matplotlib

    with matplotlib.rc_context({"font.family": ["sans-serif"], "font.sans-serif": ["DejaVu Sans"]}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _draw(tmp_path, "boxes.png")
    assert any("missing from font" in str(w.message) for w in caught)


def test_idempotent():
    import matplotlib
    from matplotlib import font_manager

    from tasks.fonts import use_cjk_font

    with matplotlib.rc_context():
        first = use_cjk_font()
        fonts = len(font_manager.fontManager.ttflist)
        families = list(matplotlib.rcParams["font.sans-serif"])
        assert use_cjk_font() == first
        assert len(font_manager.fontManager.ttflist) == fonts
        assert matplotlib.rcParams["font.sans-serif"] == families
        assert families.count(first) == 1 and families[0] == first
        assert matplotlib.rcParams["axes.unicode_minus"] is False


def test_import_has_no_side_effects():
    code = ("import matplotlib; before = dict(matplotlib.rcParams); import tasks.fonts; "
            "after = dict(matplotlib.rcParams); import sys; sys.exit(before != after)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
