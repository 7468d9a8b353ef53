"""Reach a pod's port from outside the cluster: a local listener whose every TCP connection is carried
to the pod by the API server's port-forward (``kubernetes.stream.portforward``, a WebSocket per
connection), like ``kubectl port-forward`` but inside the tuner's process."""

from __future__ import annotations

import logging
import select
import socket
import threading

from .client import Kube, k8s

log = logging.getLogger(__name__)


class PortForwarder:
    def __init__(self, kube: Kube, namespace: str, pod: str, port: int):
        self.namespace, self.pod, self.port = namespace, pod, port
        # stream.portforward swaps its ApiClient's transport during the call: give it a client of its
        # own, and one call at a time, so that other threads' API calls are never affected.
        self._core = k8s().client.CoreV1Api(kube.fresh_client())
        self._open_lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.local_port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name=f"port-forward-{pod}").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._conn_lock:
                self._connections.add(conn)
            threading.Thread(target=self._carry, args=(conn,), daemon=True).start()

    def _open(self):
        from kubernetes.stream import portforward
        with self._open_lock:
            return portforward(self._core.connect_get_namespaced_pod_portforward, self.pod, self.namespace,
                               ports=str(self.port))

    def _carry(self, conn: socket.socket) -> None:
        forward = None
        try:
            forward = self._open()
            remote = forward.socket(self.port)
            remote.setblocking(True)
            peers = {conn.fileno(): (conn, remote), remote.fileno(): (remote, conn)}
            while not self._closed.is_set():
                readable, _, _ = select.select(list(peers), [], [], 0.5)
                for fd in readable:
                    source, sink = peers[fd]
                    data = source.recv(65536)
                    if not data:
                        return
                    sink.sendall(data)
        except Exception as e:  # the pod went away, the API server closed the stream
            log.debug("port-forward to %s/%s:%s ended: %s", self.namespace, self.pod, self.port, e)
        finally:
            with self._conn_lock:
                self._connections.discard(conn)
            conn.close()
            if forward is not None:
                forward.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._conn_lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
