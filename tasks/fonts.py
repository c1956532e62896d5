"""A Chinese font for matplotlib, so figures with Chinese labels show glyphs, not empty boxes.

The font ships in a pinned PyPI package (``paperang-p2-fonts-cjk``: WenQuanYi Micro Hei, a
5 MB TrueType collection covering GB 18030), installed by ``bash run.sh`` like every other
requirement, so a fresh clone needs no system font.  ``use_cjk_font()`` registers it with
matplotlib when a figure is drawn; importing this module changes nothing.

    from tasks.fonts import use_cjk_font
    use_cjk_font()          # before plotting; safe to call any number of times
"""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

FONT_PACKAGE = "paperang_p2_fonts_cjk"  # pip: paperang-p2-fonts-cjk (see requirements.txt)
FONT_FILE = "fonts/wqy-microhei.ttc"
# Fonts a system may already have, used only when the package's font is missing.
SYSTEM_CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                    "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC",
                    "Hiragino Sans GB", "Noto Sans CJK JP", "AR PL UMing CN")
INSTALL_HINT = ("no Chinese font for matplotlib: Chinese labels will show as boxes. "
                "Install the pinned font package with `bash run.sh` (or `pip install paperang-p2-fonts-cjk==0.1.0`), "
                "or a system font such as fonts-noto-cjk.")

_warned = False


def packaged_font_path() -> Path | None:
    """The font file inside the installed font package, or None when the package is missing."""
    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / FONT_FILE
        if path.is_file():
            return path
    return None


def use_cjk_font(quiet: bool = False) -> str | None:
    """Register a Chinese font with matplotlib and put it first in ``font.sans-serif``.

    Prefers the packaged font (the same figures on every machine), else a known system font.
    Sets ``font.family`` to sans-serif and ``axes.unicode_minus`` to False (a plain hyphen for
    negative numbers).  Idempotent.  Returns the font's family name, or None (with one warning
    unless ``quiet``) when no Chinese font is available.
    """
    global _warned
    import matplotlib
    from matplotlib import font_manager

    name = None
    path = packaged_font_path()
    if path is not None:
        registered = {f.fname for f in font_manager.fontManager.ttflist}
        if str(path) not in registered:
            font_manager.fontManager.addfont(str(path))
        name = font_manager.FontProperties(fname=str(path)).get_name()
    else:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        name = next((n for n in SYSTEM_CJK_FONTS if n in installed), None)
    if name is None:
        if not (quiet or _warned):
            warnings.warn(INSTALL_HINT, stacklevel=2)
            _warned = True
        return None
    rc = matplotlib.rcParams
    rc["font.sans-serif"] = [name] + [n for n in rc["font.sans-serif"] if n != name]
    rc["font.family"] = ["sans-serif"]
    rc["axes.unicode_minus"] = False
    return name
