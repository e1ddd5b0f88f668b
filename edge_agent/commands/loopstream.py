"""A camera stand-in: a video file served as an MJPEG-over-HTTP stream on loopback.

Many IP cameras serve exactly this (multipart/x-mixed-replace), so the agent
reads it through the same LiveSource path as a real camera on the pole. The
soak benchmark loops a clip through it for hours; the camera-fault tests
drop it (`pause`, which also cuts open connections) and bring it back.
It binds 127.0.0.1 only: it is a test rig, never something a unit serves.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

BOUNDARY = b"edgeagentframe"


def encode_clip(path: str | Path, *, limit: int = 0, quality: int = 90) -> list[bytes]:
    """Every frame of a video (or the first `limit`) as JPEG bytes, encoded once up front
    so that serving costs the rig almost no CPU beside the agent it feeds."""
    cap = cv2.VideoCapture(str(path))
    out: list[bytes] = []
    try:
        while not limit or len(out) < limit:
            ok, image = cap.read()
            if not ok:
                break
            out.append(encode_jpeg(image, quality))
    finally:
        cap.release()
    if not out:
        raise InputError(f"cannot read frames from {path}")
    return out


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InputError("cannot encode a frame as JPEG")
    return data.tobytes()


class LoopStream:
    """`with LoopStream(jpegs, fps=25) as s:` -> frames looped forever at s.url."""

    def __init__(self, jpegs: list[bytes], *, fps: float = 25.0, port: int = 0):
        self.jpegs = jpegs
        self.fps = fps
        self.sent = 0  # frames written to clients, for tests and the soak report
        self._serving = threading.Event()
        self._serving.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self._thread = threading.Thread(target=self._accept, name="loopstream", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Drop every viewer and refuse new ones, as a camera that reboots does."""
        self._serving.clear()
        with self._lock:
            clients, self._clients = list(self._clients), set()
        for conn in clients:
            _shut(conn)

    def stall(self) -> None:
        """Keep connections open but send nothing: a camera hung mid-stream."""
        self._flowing.clear()

    def resume(self) -> None:
        self._serving.set()
        self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self.pause()
        _shut(self._listener)
        self._thread.join(timeout=5)

    def __enter__(self) -> "LoopStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if not self._serving.is_set():
                _shut(conn)  # a camera mid-reboot: the connection is refused outright
                continue
            with self._lock:
                self._clients.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="loopstream-client", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            # A camera keeps little in flight: with the kernel's auto-sized buffers a
            # slow reader would sit seconds behind, still reading after the camera stopped.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            _read_request(conn)
            conn.sendall(b"HTTP/1.0 200 OK\r\nCache-Control: no-cache\r\nConnection: close\r\n"
                         b"Content-Type: multipart/x-mixed-replace; boundary=" + BOUNDARY + b"\r\n\r\n")
            interval = 1.0 / self.fps if self.fps > 0 else 0.0
            due = time.monotonic()
            i = 0
            while self._serving.is_set() and not self._closed.is_set():
                if not self._flowing.wait(0.1):
                    continue
                jpegs = self.jpegs  # tests swap in blank or corrupt frames while it runs
                jpeg = jpegs[i % len(jpegs)]
                conn.sendall(b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\nContent-Length: "
                             + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                self.sent += 1
                i += 1
                due += interval
                time.sleep(max(0.0, due - time.monotonic()))
        except OSError:
            pass  # the viewer went away, or pause() cut it off
        finally:
            with self._lock:
                self._clients.discard(conn)
            _shut(conn)


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
