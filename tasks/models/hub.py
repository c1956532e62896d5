"""Where PaddleNLP downloads from and caches to, and whether it can be reached now.

Shared by the model registry and the dataset loaders so that, offline, a hub name
fails in seconds with advice instead of hanging in PaddleNLP's download retries.
"""
from __future__ import annotations

import os
import socket
import ssl
import threading
from pathlib import Path

DOWNLOAD_HOSTS = (("bj.bcebos.com", 443),)  # PaddleNLP's community weights and datasets
OFFLINE_ENV = ("COURSE_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "PADDLENLP_OFFLINE")


def offline_requested() -> bool:
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on") for k in OFFLINE_ENV)


def hosts_reachable(hosts=None, timeout: float = 3.0) -> bool:
    """TLS probe of the download hosts, bounded by ``timeout`` (DNS included)."""
    if offline_requested():
        return False
    hosts = DOWNLOAD_HOSTS if hosts is None else hosts
    result = []

    def probe():
        # A TLS handshake, not just TCP: some sandboxes and captive portals accept any connection.
        context = ssl.create_default_context()
        for host, port in hosts:
            try:
                with socket.create_connection((host, port), timeout=timeout) as sock:
                    with context.wrap_socket(sock, server_hostname=host):
                        result.append(True)
                        return
            except (OSError, ValueError):
                continue

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result)


def paddlenlp_home() -> Path:
    """PaddleNLP's cache root, as paddlenlp.utils.env computes it ($PPNLP_HOME or ~/.paddlenlp)."""
    return Path(os.environ.get("PPNLP_HOME") or os.path.join("~", ".paddlenlp")).expanduser()
