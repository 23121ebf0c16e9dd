"""upload, submit and schedule against a local HTTP server speaking the KFP v2beta1 API."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from pipelines import api_cmds, compile_cmd

TOKEN = "s3cr3t"


class FakeKfp:
    """In-memory KFP v2beta1 API: pipelines, versions, experiments, runs, recurring runs."""

    def __init__(self):
        self.requests: list[dict] = []
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, list[dict]] = {}
        self.experiments: dict[str, dict] = {}
        self.runs: list[dict] = []
        self.recurring: list[dict] = []
        self.healthz_status = 200

    def handle(self, method: str, path: str, query: dict, headers, body: bytes):
        """Return ``(status, json_body)`` for one request and record it."""
        record = {
            "method": method,
            "path": path,
            "query": query,
            "headers": {k.lower(): v for k, v in headers.items()},
        }
        self.requests.append(record)
        if path == "/apis/v2beta1/healthz":  # what kfp.Client.get_kfp_healthz calls
            if self.healthz_status != 200:
                return self.healthz_status, {"error": "refused"}
            return 200, {"multi_user": False}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"error": "unauthenticated"}
        if path == "/apis/v2beta1/pipelines/upload" and method == "POST":
            package = self._package(headers, body)
            record["package"] = package
            pid = f"p{len(self.pipelines) + 1}"
            name = query["name"][0]
            self.pipelines[pid] = {"pipeline_id": pid, "display_name": name}
            self.versions[pid] = [
                {"pipeline_id": pid, "pipeline_version_id": f"{pid}-v1", "display_name": name}
            ]
            return 200, self.pipelines[pid]
        if path == "/apis/v2beta1/pipelines/upload_version" and method == "POST":
            record["package"] = self._package(headers, body)
            pid = query["pipelineid"][0]
            vid = f"{pid}-v{len(self.versions[pid]) + 1}"
            version = {
                "pipeline_id": pid,
                "pipeline_version_id": vid,
                "display_name": query["name"][0],
            }
            self.versions[pid].append(version)
            return 200, version
        if path == "/apis/v2beta1/pipelines" and method == "GET":
            return 200, {"pipelines": self._match(self.pipelines.values(), query)}
        if path.startswith("/apis/v2beta1/pipelines/") and path.endswith("/versions"):
            pid = path.split("/")[4]
            versions = list(reversed(self.versions.get(pid, [])))  # newest first
            return 200, {"pipeline_versions": self._match(versions, query)}
        if path == "/apis/v2beta1/experiments" and method == "GET":
            return 200, {"experiments": self._match(self.experiments.values(), query)}
        if path == "/apis/v2beta1/experiments" and method == "POST":
            experiment = json.loads(body)
            experiment["experiment_id"] = f"e{len(self.experiments) + 1}"
            self.experiments[experiment["experiment_id"]] = experiment
            record["json"] = experiment
            return 200, experiment
        if path == "/apis/v2beta1/runs" and method == "POST":
            run = json.loads(body)
            record["json"] = run
            run = {**run, "run_id": f"r{len(self.runs) + 1}"}
            self.runs.append(run)
            return 200, run
        if path == "/apis/v2beta1/recurringruns" and method == "POST":
            job = json.loads(body)
            record["json"] = job
            if not _cron_ok(job["trigger"]["cron_schedule"]["cron"]):
                # KFP validates the schedule (robfig/cron) and answers 400
                return 400, {"error": "Schedule cron is not a supported format"}
            job = {**job, "recurring_run_id": f"rr{len(self.recurring) + 1}"}
            self.recurring.append(job)
            return 200, job
        return 404, {"error": f"no route {method} {path}"}

    @staticmethod
    def _match(items, query) -> list[dict]:
        if "filter" not in query:
            return list(items)
        predicate = json.loads(query["filter"][0])["predicates"][0]
        return [i for i in items if i.get("display_name") == predicate["stringValue"]]

    @staticmethod
    def _package(headers, body: bytes) -> dict:
        head = f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + body)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "uploadfile":
                # KFP takes the pipeline spec and, when present, the platform spec after it.
                docs = list(yaml.safe_load_all(part.get_payload(decode=True)))
                return {**docs[0], "platform_spec": docs[1]} if len(docs) > 1 else docs[0]
        raise AssertionError("no uploadfile part in the multipart body")


def _cron_ok(expression: str) -> bool:
    """A rough stand-in for KFP's cron check: a descriptor, or 6 fields of numbers <= 59."""
    if expression.startswith("@"):
        return True
    fields = expression.split(" ")
    numbers = [int(n) for f in fields for n in f.replace("-", ",").split(",") if n.isdigit()]
    return len(fields) == 6 and all(n <= 59 for n in numbers)


@pytest.fixture
def kfp_server():
    """A FakeKfp served on 127.0.0.1 from a thread; yields ``(url, fake)``."""
    fake = FakeKfp()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                status, payload = fake.handle(
                    self.command, url.path, urllib.parse.parse_qs(url.query), self.headers, body
                )
            except Exception as err:  # surfaces as a 500 the test sees
                status, payload = 500, {"error": repr(err)}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", fake
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def package(tmp_path):
    """The pipeline compiled with the default profile."""
    from pipelines import profile

    return compile_cmd.compile_pipeline(str(tmp_path / "nasdet.yaml"), profile.load())


def _posts(fake: FakeKfp, path: str) -> list[dict]:
    return [r for r in fake.requests if r["method"] == "POST" and r["path"] == path]


def test_upload_then_new_version(kfp_server, package, monkeypatch, capsys):
    url, fake = kfp_server
    monkeypatch.setenv("KFP_HOST", url)
    monkeypatch.setenv("KFP_TOKEN", TOKEN)
    assert api_cmds.main_upload(["--package", package, "--name", "detector"]) == 0
    assert "uploaded pipeline 'detector' (id p1)" in capsys.readouterr().out
    (upload,) = _posts(fake, "/apis/v2beta1/pipelines/upload")
    assert upload["query"]["name"] == ["detector"]
    assert upload["package"]["pipelineInfo"]["name"] == "nasdet"
    assert "data_path" in upload["package"]["root"]["inputDefinitions"]["parameters"]

    # same name again: a new version of the existing pipeline, compiled on the fly
    assert api_cmds.main_upload(["--name", "detector", "--version", "v2"]) == 0
    assert "uploaded version 'v2' of pipeline 'detector'" in capsys.readouterr().out
    (version,) = _posts(fake, "/apis/v2beta1/pipelines/upload_version")
    assert version["query"]["pipelineid"] == ["p1"]
    assert version["query"]["name"] == ["v2"]
    assert version["package"]["deploymentSpec"]["executors"]
    api_calls = [r for r in fake.requests if not r["path"].endswith("/healthz")]
    assert api_calls and all(
        r["headers"].get("authorization") == f"Bearer {TOKEN}" for r in api_calls
    )


def test_submit_from_package_with_parameters(kfp_server, package, capsys):
    url, fake = kfp_server
    argv = ["--host", url, "--token", TOKEN, "--package", package, "--experiment", "retrain"]
    argv += ["--param", "min_ap=0.3", "--param", "data_path=/mnt/data/coco.json"]
    argv += ["--param", "search_max_trials=4", "--run-name", "nightly"]
    assert api_cmds.main_submit(argv) == 0
    assert "submitted run r1 in experiment 'retrain'" in capsys.readouterr().out
    (experiment,) = _posts(fake, "/apis/v2beta1/experiments")
    assert experiment["json"]["display_name"] == "retrain"
    (run,) = _posts(fake, "/apis/v2beta1/runs")
    body = run["json"]
    assert body["display_name"] == "nightly"
    assert body["experiment_id"] == "e1"
    assert body["runtime_config"]["parameters"] == {
        "min_ap": 0.3,
        "data_path": "/mnt/data/coco.json",
        "search_max_trials": 4,
    }
    # With a platform spec (the default profile's serving volume) KFP takes both documents.
    assert body["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "nasdet"
    assert "kubernetes" in body["pipeline_spec"]["platform_spec"]["platforms"]

    # a second submit reuses the experiment instead of creating another
    assert api_cmds.main_submit(argv) == 0
    assert len(_posts(fake, "/apis/v2beta1/experiments")) == 1
    assert fake.runs[1]["experiment_id"] == "e1"


def test_submit_uploaded_pipeline_uses_newest_version(kfp_server, package):
    url, fake = kfp_server
    conn = ["--host", url, "--token", TOKEN]
    assert api_cmds.main_upload([*conn, "--package", package]) == 0
    assert api_cmds.main_upload([*conn, "--package", package, "--version", "second"]) == 0
    assert api_cmds.main_submit([*conn, "--pipeline", "nasdet"]) == 0
    body = _posts(fake, "/apis/v2beta1/runs")[0]["json"]
    assert body["pipeline_version_reference"] == {
        "pipeline_id": "p1",
        "pipeline_version_id": "p1-v2",
    }
    assert "pipeline_spec" not in body or body["pipeline_spec"] is None


def test_schedule_five_field_cron(kfp_server, package, capsys):
    url, fake = kfp_server
    argv = ["--host", url, "--token", TOKEN, "--package", package, "--cron", "30 2 * * 1-5"]
    argv += ["--param", "train_epochs=50", "--experiment", "nightly", "--name", "retrain"]
    assert api_cmds.main_schedule(argv) == 0
    out = capsys.readouterr().out
    assert "5-field cron '30 2 * * 1-5'" in out
    assert "'0 30 2 * * 1-5'" in out
    (job,) = _posts(fake, "/apis/v2beta1/recurringruns")
    body = job["json"]
    assert body["trigger"]["cron_schedule"]["cron"] == "0 30 2 * * 1-5"
    assert body["display_name"] == "retrain"
    assert body["experiment_id"] == "e1"
    assert body["max_concurrency"] == "1" or body["max_concurrency"] == 1
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["runtime_config"]["parameters"] == {"train_epochs": 50}
    assert body["pipeline_spec"]["pipeline_spec"]["root"]["dag"]["tasks"]


def test_schedule_six_field_cron_kept(kfp_server, package):
    url, fake = kfp_server
    argv = ["--host", url, "--token", TOKEN, "--package", package, "--cron", "0 0 3 ? * SUN"]
    assert api_cmds.main_schedule(argv) == 0
    assert fake.recurring[0]["trigger"]["cron_schedule"]["cron"] == "0 0 3 ? * SUN"


def test_api_error_is_one_line_exit_1(kfp_server, package, capsys):
    url, _ = kfp_server
    assert api_cmds.main_upload(["--host", url, "--token", "wrong", "--package", package]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: KFP API error 401") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["schedule", "--cron", "  "], "empty cron expression"),
        (["submit", "--param", "min_ap=high"], "parameter min_ap needs a float"),
        (["submit", "--param", "no_such=1"], "unknown pipeline parameter 'no_such'"),
        (["submit", "--package", "/does/not/exist.yaml"], "does not exist"),
        (["upload"], "no KFP host"),
        (["submit", "--pipeline", "nasdet", "--package", __file__], "exclude each other"),
        (["submit", "--pipeline", "unknown"], "no pipeline named 'unknown'"),
        (["schedule", "--cron", "@daily", "--max-concurrency", "0"], "at least 1"),
        (["submit", "--param", "min_ap=2"], "min_ap must be in 0.0..1.0"),
    ],
)
def test_bad_usage_one_line_exit_2(kfp_server, argv, message, capsys, monkeypatch):
    url, fake = kfp_server
    monkeypatch.delenv("KFP_HOST", raising=False)
    host = [] if argv == ["upload"] else ["--host", url, "--token", TOKEN]
    assert api_cmds.main([argv[0], *host, *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not _posts(fake, "/apis/v2beta1/runs") and not _posts(
        fake, "/apis/v2beta1/recurringruns"
    )


def test_unreachable_host_is_one_line(capsys):
    assert api_cmds.main_upload(["--host", "http://127.0.0.1:9", "--package", __file__]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach KFP at http://127.0.0.1:9") and err.count("\n") == 1


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *"])
def test_schedule_bad_cron_is_refused_by_kfp(kfp_server, package, cron, capsys):
    """The cron expression is validated by the KFP server: its refusal is one line, exit 1."""
    url, fake = kfp_server
    argv = ["--host", url, "--token", TOKEN, "--package", package, "--cron", cron]
    assert api_cmds.main_schedule(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: KFP API error 400") and "cron" in err and err.count("\n") == 1
    assert not fake.recurring


def test_health_check_refused_credentials_is_one_line(kfp_server, package, capsys, monkeypatch):
    """kfp.Client.get_kfp_healthz is the health check; its retries end in one line."""
    import kfp.client.client

    monkeypatch.setattr(kfp.client.client.time, "sleep", lambda seconds: None)
    url, fake = kfp_server
    fake.healthz_status = 401
    assert api_cmds.main_upload(["--host", url, "--token", TOKEN, "--package", package]) == 1
    err = capsys.readouterr().err
    assert err == f"error: KFP at {url} refused the credentials (401)\n"
    assert any(r["path"] == "/apis/v2beta1/healthz" for r in fake.requests)
    assert not _posts(fake, "/apis/v2beta1/pipelines/upload")
