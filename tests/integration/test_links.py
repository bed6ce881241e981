"""Downloading share links: real local servers reached through `allow_hosts`, and everything
else refused before a connection is made. Nothing here resolves a real name or leaves
127.0.0.1: other names go through an injected resolver, other addresses are never dialled
(a spy on urllib3's connection function records every address dialled)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, Response, redirect, request
from werkzeug.serving import make_server

from devstack.serving import ThreadedServer, free_port
from shared.adapters.links import (
    Fetched,
    LinkFailed,
    LinkFetcher,
    LinkRefused,
    address_refusal,
    filename_from_disposition,
)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
MiB = 1024 * 1024


# ----------------------------------------------------------------------------- the far end


class Far:
    """What the local file server saw and did."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.endless_sent = 0
        self.lock = threading.Lock()


def file_server_app(far: Far) -> Flask:
    app = Flask("far-end")

    @app.before_request
    def remember() -> None:
        with far.lock:
            far.paths.append(request.full_path.rstrip("?"))

    @app.get("/files/report.pdf")
    def report() -> Response:
        return Response(
            PDF,
            headers={
                "Content-Type": "application/pdf",
                "Content-Disposition": 'attachment; filename="q3-report.pdf"; '
                "filename*=UTF-8''Q3%20%E2%82%AC%20report.pdf",
            },
        )

    @app.get("/files/plain/notes%20for%20maya.txt")
    @app.get("/files/plain/<name>")
    def plain(name: str = "") -> Response:
        response = Response(b"plain words")
        del response.headers["Content-Type"]
        return response

    @app.get("/hop/<int:left>")
    def hop(left: int) -> Response:
        status = int(request.args.get("status", "302"))
        return redirect(f"/hop/{left - 1}" if left > 1 else "/files/report.pdf", code=status)

    @app.get("/redirect")
    def to() -> Response:
        return redirect(request.args["to"], code=int(request.args.get("status", "302")))

    @app.get("/no-location")
    def no_location() -> Response:
        return Response(status=302)

    @app.get("/status/<int:code>")
    def status(code: int) -> Response:
        return Response(f"status {code}", status=code)

    @app.get("/echo-host")
    def echo_host() -> Response:
        return Response(request.headers.get("Host", ""), mimetype="text/plain")

    @app.get("/declared-huge")
    def declared_huge() -> Response:
        def body() -> Iterator[bytes]:
            yield b"x" * 16
            time.sleep(5)
            yield b"x" * 16

        return Response(body(), headers={"Content-Length": str(50 * MiB)})

    @app.get("/endless")
    def endless() -> Response:
        def body() -> Iterator[bytes]:
            chunk = b"e" * 65536
            while True:
                with far.lock:
                    far.endless_sent += len(chunk)
                yield chunk

        return Response(body(), mimetype="application/octet-stream")

    @app.get("/trickle")
    def trickle() -> Response:
        def body() -> Iterator[bytes]:
            for _ in range(100):
                yield b"t" * 8
                time.sleep(0.2)

        return Response(body(), mimetype="text/plain")

    @app.get("/slow-headers")
    def slow_headers() -> Response:
        time.sleep(3)
        return Response(b"late")

    return app


@pytest.fixture(scope="module")
def far() -> Far:
    return Far()


@pytest.fixture(scope="module")
def server(far: Far) -> Iterator[ThreadedServer]:
    with ThreadedServer(file_server_app(far)) as running:
        yield running


@pytest.fixture(autouse=True)
def _clear(far: Far) -> None:
    with far.lock:
        far.paths.clear()
        far.endless_sent = 0


@pytest.fixture(autouse=True)
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) urllib3 opens a TCP connection to during the test.

    Also a safety net: whatever the code under test gets wrong, nothing but 127.0.0.1 (and
    ::1) is ever dialled from here (anything else is recorded and refused locally).
    """
    import urllib3.util.connection as connection

    seen: list[tuple[str, int]] = []
    real = connection.create_connection

    def spy(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((address[0], address[1]))
        if address[0] not in ("127.0.0.1", "::1"):
            raise ConnectionRefusedError(f"test safety net: not dialling {address[0]}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(connection, "create_connection", spy)
    return seen


@pytest.fixture
def canary() -> Iterator[socket.socket]:
    """A listening port on 127.0.0.1 that no one is allowed to reach."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(8)
    listener.setblocking(False)
    yield listener
    listener.close()


def nobody_knocked(listener: socket.socket) -> bool:
    try:
        connection, _ = listener.accept()
    except BlockingIOError:
        return True
    connection.close()
    return False


class Resolver:
    """Answers for made-up names, recording each question; a real name is a test bug."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def fetcher(server: ThreadedServer, **kwargs: object) -> LinkFetcher:
    options: dict[str, object] = {"allow_hosts": (f"127.0.0.1:{server.port}",), "timeout": 5.0}
    options.update(kwargs)
    return LinkFetcher(**options)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- downloads


def test_a_file_downloads_with_its_name_and_type(server, dialled):
    url = f"{server.url}/files/report.pdf"
    got = fetcher(server).fetch(url)
    assert got == Fetched(
        url=url,
        final_url=url,
        content_type="application/pdf",
        filename="Q3 € report.pdf",
        data=PDF,
    )
    assert dialled == [("127.0.0.1", server.port)]


def test_without_content_disposition_the_name_comes_from_the_path(server):
    got = fetcher(server).fetch(f"{server.url}/files/plain/notes%20for%20maya.txt?x=1")
    assert (got.filename, got.content_type, got.data) == (
        "notes for maya.txt",
        None,
        b"plain words",
    )


def test_redirects_within_the_limit_are_followed(server, far, dialled):
    url = f"{server.url}/hop/5"
    got = fetcher(server, max_redirects=5).fetch(url)
    assert got.data == PDF
    assert (got.url, got.final_url) == (url, f"{server.url}/files/report.pdf")
    assert got.filename == "Q3 € report.pdf"
    assert far.paths == [*(f"/hop/{n}" for n in range(5, 0, -1)), "/files/report.pdf"]
    assert set(dialled) == {("127.0.0.1", server.port)}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed(server, status):
    got = fetcher(server).fetch(f"{server.url}/hop/2?status={status}")
    assert got.data == PDF


def test_too_many_redirects_are_refused_before_the_next_request(server, far):
    with pytest.raises(LinkRefused) as raised:
        fetcher(server, max_redirects=5).fetch(f"{server.url}/hop/6")
    assert raised.value.reason == "the link redirects more than 5 times"
    assert far.paths == [f"/hop/{n}" for n in range(6, 0, -1)]  # /hop/1 and the file never


def test_a_redirect_without_a_location_fails_for_good(server):
    with pytest.raises(LinkFailed) as raised:
        fetcher(server).fetch(f"{server.url}/no-location")
    assert not raised.value.retryable


# ----------------------------------------------------------------------------- SSRF


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_redirect_to_another_local_port_is_refused_without_connecting(
    server, far, dialled, canary, scheme
):
    port = canary.getsockname()[1]
    target = f"{scheme}://127.0.0.1:{port}/admin"
    with pytest.raises(LinkRefused) as raised:
        fetcher(server).fetch(f"{server.url}/redirect?to={target}")
    assert raised.value.reason in {
        "only https links can be downloaded",
        "the link points at a loopback address",
    }
    assert dialled == [("127.0.0.1", server.port)]
    assert nobody_knocked(canary)


def test_https_to_loopback_is_refused_for_its_address(server, dialled, canary):
    port = canary.getsockname()[1]
    with pytest.raises(LinkRefused) as raised:
        fetcher(server).fetch(f"{server.url}/redirect?to=https://127.0.0.1:{port}/")
    assert raised.value.reason == "the link points at a loopback address"
    assert nobody_knocked(canary)


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
        "https://169.254.169.254/computeMetadata/v1/",
        "https://[fe80::a9fe:a9fe]/computeMetadata/v1/",
        "https://[::ffff:169.254.169.254]/latest/meta-data/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://metadata.google.internal./computeMetadata/v1/",
        "https://METADATA.GOOGLE.INTERNAL/computeMetadata/v1/",
        "https://metadata/computeMetadata/v1/",
    ],
)
def test_the_metadata_server_is_refused_instantly_and_never_dialled(server, dialled, target):
    resolver = Resolver({})
    started = time.monotonic()
    with pytest.raises(LinkRefused) as raised:
        fetcher(server, resolver=resolver).fetch(f"{server.url}/redirect?to={target}")
    assert time.monotonic() - started < 0.5
    assert raised.value.reason in {
        "only https links can be downloaded",
        "the link points at a link-local address",
        "the link points at an internal address",
    }
    assert dialled == [("127.0.0.1", server.port)]
    assert resolver.asked == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/", "a loopback address"),
        ("https://127.9.9.9:8443/", "a loopback address"),
        ("https://[::1]/", "a loopback address"),
        ("https://[::ffff:127.0.0.1]/", "a loopback address"),
        ("https://[::ffff:7f00:1]/", "a loopback address"),
        ("https://0.0.0.0/", "an unspecified address"),
        ("https://[::]/", "an unspecified address"),
        ("https://10.0.0.8/", "a private address"),
        ("https://172.16.4.2/", "a private address"),
        ("https://192.168.1.1/", "a private address"),
        ("https://[fd00::1]/", "a private address"),
        ("https://100.64.0.1/", "a shared (CGNAT) address"),
        ("https://224.0.0.1/", "a multicast address"),
        ("https://[ff02::1]/", "a multicast address"),
        ("https://240.0.0.1/", "a private address"),
        ("https://2130706433/", "a loopback address"),  # 127.0.0.1 as one number
    ],
)
def test_non_public_addresses_are_refused_without_connecting(dialled, url, reason):
    resolver = Resolver({"2130706433": [["127.0.0.1"]]})
    with pytest.raises(LinkRefused) as raised:
        LinkFetcher(resolver=resolver).fetch(url)
    assert raised.value.reason == f"the link points at {reason}"
    assert dialled == []


@pytest.mark.parametrize(
    "url",
    [
        "http://files.example/report.pdf",
        "http://93.184.216.34/report.pdf",
        "ftp://files.example/report.pdf",
        "file:///etc/passwd",
        "gopher://files.example/",
    ],
)
def test_anything_but_https_to_a_host_not_allowed_is_refused(dialled, url):
    resolver = Resolver({})
    with pytest.raises(LinkRefused, match="only https"):
        LinkFetcher(resolver=resolver).fetch(url)
    assert resolver.asked == []
    assert dialled == []


def test_credentials_in_a_link_are_refused_and_never_repeated(dialled, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LinkRefused) as raised:
        LinkFetcher().fetch("https://maya:hunter2-secret@files.example/report.pdf")
    assert raised.value.reason == "the link must not contain a user name or password"
    logged = _client_log(caplog)
    assert "files.example" in logged
    assert "hunter2" not in logged
    assert dialled == []


@pytest.mark.parametrize(
    "answers",
    [
        ["10.1.2.3"],
        ["93.184.216.34", "10.1.2.3"],
        ["93.184.216.34", "::1"],
        ["2606:2800:220:1:248:1893:25c8:1946", "169.254.169.254"],
        ["93.184.216.34", "::ffff:192.168.0.1"],
    ],
)
def test_a_name_with_any_non_public_address_is_refused(dialled, answers):
    resolver = Resolver({"files.test": [answers]})
    with pytest.raises(LinkRefused, match="the link points at"):
        LinkFetcher(resolver=resolver).fetch("https://files.test/report.pdf")
    assert resolver.asked == [("files.test", 443)]
    assert dialled == []


def test_the_checked_address_is_the_one_dialled_with_the_name_as_host(server, dialled):
    """DNS rebinding: a later answer never matters, the first (checked) one is dialled."""
    resolver = Resolver({"files.test": [["127.0.0.1"], ["127.0.0.2"]]})
    got = LinkFetcher(resolver=resolver, allow_hosts=(f"files.test:{server.port}",)).fetch(
        f"http://files.test:{server.port}/echo-host"
    )
    assert got.data == f"files.test:{server.port}".encode()
    assert resolver.asked == [("files.test", server.port)]
    assert dialled == [("127.0.0.1", server.port)]


def test_a_redirect_is_checked_again_at_every_hop(server, dialled):
    resolver = Resolver({"files.test": [["127.0.0.1"]], "evil.test": [["10.0.0.7"]]})
    allowed = LinkFetcher(resolver=resolver, allow_hosts=(f"files.test:{server.port}",))
    with pytest.raises(LinkRefused, match="a private address"):
        allowed.fetch(f"http://files.test:{server.port}/redirect?to=https://evil.test/x")
    assert resolver.asked == [("files.test", server.port), ("evil.test", 443)]
    assert dialled == [("127.0.0.1", server.port)]


def test_an_allowed_ipv6_loopback_host_is_reached_by_its_literal(far, dialled):
    try:
        server = make_server("::1", free_port(), file_server_app(far), threaded=True)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        links = LinkFetcher(allow_hosts=(f"[::1]:{port}",))
        got = links.fetch(f"http://[::1]:{port}/echo-host")
        assert got.data == f"[::1]:{port}".encode()
        assert dialled == [("::1", port)]
        with pytest.raises(LinkRefused, match="only https"):
            links.fetch(f"http://[::1]:{port + 1}/echo-host")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ----------------------------------------------------------------------------- https


def _tls_material(directory: Path) -> tuple[Path, Path, Path]:
    """A local CA (written to ca.pem) and a certificate for files.test it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "links test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "files.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("files.test")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


class TlsServer:
    def __init__(self, app: Flask, cert: Path, key: Path) -> None:
        self.server_names: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self.port = free_port()
        self._server = make_server("127.0.0.1", self.port, app, threaded=True, ssl_context=context)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def tls(far: Far, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsServer, Path]]:
    ca, cert, key = _tls_material(tmp_path_factory.mktemp("tls"))
    running = TlsServer(file_server_app(far), cert, key)
    yield running, ca
    running.stop()


def test_https_dials_the_checked_address_but_verifies_and_names_the_host(tls, dialled):
    server, ca = tls
    server.server_names.clear()
    resolver = Resolver({"files.test": [["127.0.0.1"], ["127.0.0.2"]]})
    links = LinkFetcher(
        resolver=resolver, allow_hosts=(f"files.test:{server.port}",), ca_certs=str(ca)
    )
    got = links.fetch(f"https://files.test:{server.port}/echo-host")
    assert got.data == f"files.test:{server.port}".encode()
    assert server.server_names == ["files.test"]
    assert dialled == [("127.0.0.1", server.port)]
    assert resolver.asked == [("files.test", server.port)]


def test_https_downloads_a_file_through_the_pinned_address(tls):
    server, ca = tls
    resolver = Resolver({"files.test": [["127.0.0.1"]]})
    links = LinkFetcher(
        resolver=resolver, allow_hosts=(f"files.test:{server.port}",), ca_certs=str(ca)
    )
    pdf = links.fetch(f"https://files.test:{server.port}/hop/2")
    assert (pdf.data, pdf.filename, pdf.final_url) == (
        PDF,
        "Q3 € report.pdf",
        f"https://files.test:{server.port}/files/report.pdf",
    )


def test_https_to_a_name_the_certificate_does_not_cover_fails_for_good(tls):
    server, ca = tls
    resolver = Resolver({"other.test": [["127.0.0.1"]]})
    links = LinkFetcher(
        resolver=resolver, allow_hosts=(f"other.test:{server.port}",), ca_certs=str(ca)
    )
    with pytest.raises(LinkFailed) as raised:
        links.fetch(f"https://other.test:{server.port}/files/report.pdf")
    assert not raised.value.retryable
    assert "certificate" in raised.value.reason


def test_https_signed_by_an_unknown_authority_fails_for_good(tls):
    server, _ca = tls
    resolver = Resolver({"files.test": [["127.0.0.1"]]})
    links = LinkFetcher(resolver=resolver, allow_hosts=(f"files.test:{server.port}",))
    with pytest.raises(LinkFailed) as raised:
        links.fetch(f"https://files.test:{server.port}/files/report.pdf")
    assert not raised.value.retryable
    assert "certificate" in raised.value.reason


# ----------------------------------------------------------------------------- size and time


def test_a_declared_length_over_the_limit_is_refused_without_reading(server):
    started = time.monotonic()
    with pytest.raises(LinkRefused) as raised:
        fetcher(server, max_bytes=MiB).fetch(f"{server.url}/declared-huge")
    assert raised.value.reason == "the file is larger than 1 MB"
    assert time.monotonic() - started < 2  # the body would take 5 s to arrive


def test_the_default_limit_is_20_mb(server):
    with pytest.raises(LinkRefused) as raised:
        fetcher(server).fetch(f"{server.url}/declared-huge")
    assert raised.value.reason == "the file is larger than 20 MB"


def test_an_endless_body_is_cut_at_the_limit(server, far):
    with pytest.raises(LinkRefused) as raised:
        fetcher(server, max_bytes=2 * MiB).fetch(f"{server.url}/endless")
    assert raised.value.reason == "the file is larger than 2 MB"
    time.sleep(0.5)
    with far.lock:
        settled = far.endless_sent
    time.sleep(0.5)
    with far.lock:
        assert far.endless_sent == settled  # the server stopped: we hung up
    assert settled < 2 * MiB + 16 * MiB  # what socket buffers can hold, not more


def test_a_file_exactly_at_the_limit_is_accepted(server):
    got = fetcher(server, max_bytes=len(PDF)).fetch(f"{server.url}/files/report.pdf")
    assert got.data == PDF
    with pytest.raises(LinkRefused, match=f"larger than {len(PDF) - 1} bytes"):
        fetcher(server, max_bytes=len(PDF) - 1).fetch(f"{server.url}/files/report.pdf")


def test_a_trickling_body_is_stopped_at_the_whole_download_deadline(server):
    """Each piece arrives well within a second; the download as a whole may not take longer."""
    started = time.monotonic()
    with pytest.raises(LinkFailed) as raised:
        fetcher(server, timeout=1.0).fetch(f"{server.url}/trickle")
    elapsed = time.monotonic() - started
    assert raised.value.retryable
    assert "longer than 1 s" in raised.value.reason
    assert 0.9 <= elapsed < 1.8


def test_a_server_that_never_answers_is_given_up_on_at_the_deadline(server):
    started = time.monotonic()
    with pytest.raises(LinkFailed) as raised:
        fetcher(server, timeout=1.0).fetch(f"{server.url}/slow-headers")
    assert raised.value.retryable
    assert 0.9 <= time.monotonic() - started < 1.8


# ----------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (404, False),
        (410, False),
        (403, False),
        (401, False),
        (400, False),
        (503, True),
        (500, True),
        (502, True),
        (429, True),
    ],
)
def test_error_statuses_say_whether_trying_later_may_help(server, code, retryable):
    with pytest.raises(LinkFailed) as raised:
        fetcher(server).fetch(f"{server.url}/status/{code}")
    assert raised.value.retryable is retryable
    assert str(code) in raised.value.reason


def test_nothing_listening_is_a_retryable_failure():
    port = free_port()
    with pytest.raises(LinkFailed) as raised:
        LinkFetcher(allow_hosts=(f"127.0.0.1:{port}",)).fetch(f"http://127.0.0.1:{port}/x")
    assert raised.value.retryable


def _client_log(caplog: pytest.LogCaptureFixture) -> str:
    """What this side logged (messages and their fields), not the far end's access log."""
    return "\n".join(
        f"{r.getMessage()} {getattr(r, 'fields', '')}"
        for r in caplog.records
        if not r.name.startswith("werkzeug")
    )


def test_errors_and_logs_never_carry_the_links_secrets(server, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="shared")
    secret = "rlkey=s3cr3t-share-key"
    for url in (f"{server.url}/status/404?{secret}", f"{server.url}/status/503?{secret}"):
        with pytest.raises(LinkFailed) as raised:
            fetcher(server).fetch(url)
        assert "s3cr3t" not in f"{raised.value} {raised.value.reason!r}"
    with pytest.raises(LinkRefused) as refused:
        fetcher(server, max_bytes=1024).fetch(f"{server.url}/endless?{secret}")
    assert "s3cr3t" not in str(refused.value)
    got = fetcher(server).fetch(f"{server.url}/files/report.pdf?{secret}")
    assert got.final_url.endswith(secret)  # the caller gets the link back, the log does not
    logged = _client_log(caplog)
    assert "link refused" in logged
    assert "link downloaded" in logged
    assert "127.0.0.1" in logged
    assert "s3cr3t" not in logged


# ----------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("169.254.169.254", "a link-local address"),
        ("169.254.0.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("febf:ffff::1", "a link-local address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("10.0.0.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.0.1", "a private address"),
        ("fd00::1", "a private address"),
        ("fc00::1", "a private address"),
        ("::ffff:10.1.2.3", "a private address"),
        ("100.64.0.1", "a shared (CGNAT) address"),
        ("100.127.255.254", "a shared (CGNAT) address"),
        ("224.0.0.251", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("255.255.255.255", "a private address"),
        ("240.0.0.1", "a private address"),
        ("192.0.2.1", "a private address"),  # TEST-NET-1, documentation only
        ("198.18.0.1", "a private address"),  # benchmarking
        ("2001:db8::1", "a private address"),  # documentation
        ("64:ff9b::a00:1", "a private address"),  # NAT64 of 10.0.0.1
        ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "a link-local address"),  # 6to4 of 169.254.169.254
        ("2002:c0a8:1::1", "a private address"),  # 6to4 of 192.168.0.1
        ("::127.0.0.1", "a reserved address"),  # IPv4-compatible (deprecated)
        ("64:ff9b::808:808", "a reserved address"),  # NAT64 even of a public one: never ours
    ],
)
def test_addresses_we_never_connect_to(address, reason):
    assert address_refusal(address) == reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",  # just below the shared range
        "100.128.0.0",  # just above it
        "172.32.0.1",  # just above 172.16/12
        "169.255.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4009:80b::200e",
        "::ffff:8.8.8.8",
    ],
)
def test_public_addresses_are_allowed(address):
    assert address_refusal(address) is None
    assert ipaddress.ip_address(address.split("%")[0])  # a literal: no lookup was needed


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="report.pdf"', "report.pdf"),
        ("attachment; filename=report.pdf", "report.pdf"),
        ('inline; filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'),
        ("attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf", "€ rates.pdf"),
        ("attachment; filename*=utf-8'en'%C3%A9t%C3%A9.docx", "été.docx"),
        ("attachment; filename*=iso-8859-1'en'%A3%20rates.pdf", "£ rates.pdf"),
        ("attachment; filename=\"fallback.pdf\"; filename*=UTF-8''r%C3%A9el.pdf", "réel.pdf"),
        ("attachment; filename*=UTF-8''r%C3%A9el.pdf; filename=\"fallback.pdf\"", "réel.pdf"),
        ("attachment; filename*=UTF-8''%FF%FE.pdf; filename=\"fallback.pdf\"", "fallback.pdf"),
        ("attachment; filename*=koi8-r''%C1.pdf; filename=\"fallback.pdf\"", "fallback.pdf"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\maya\\\\deck.pptx"', "deck.pptx"),
        ('attachment; filename=".."', None),
        ('attachment; filename=""', None),
        ("attachment", None),
        ("", None),
        (None, None),
        ('attachment; FILENAME="UPPER.PDF"', "UPPER.PDF"),
        ('attachment; filename="a\x07b.txt"', "ab.txt"),
    ],
)
def test_content_disposition_file_names(header, name):
    assert filename_from_disposition(header) == name
