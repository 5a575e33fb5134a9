"""Helpers for the MTA-STS tests: where the tools are, and a running
tests/tools/stshost.py (a scripted HTTPS policy host)."""

import os
import re
import subprocess

import stplib

TOOLS = os.path.join(stplib.SOURCE_DIR, "tests", "tools")
STSHOST = os.path.join(TOOLS, "stshost.py")
MKSTSCERTS = os.path.join(TOOLS, "mkstscerts.sh")
CLI = os.environ.get("STP_STSFETCH_CLI") or os.path.join(
    os.path.dirname(stplib.BINARY), "tests", "stsfetch_cli")
MTASTS_CLI = os.environ.get("STP_MTASTS_CLI") or os.path.join(os.path.dirname(CLI), "mtasts_cli")


class Host:
    """A running stshost.py: .port, .requests() (the request heads it got), .stop()."""

    def __init__(self, certs, workdir, mode="ok", cert="good", policy=None,
                 listen="127.0.0.1:0"):
        self.log = os.path.join(workdir, "requests-%s.log" % mode)
        args = [stplib.PYTHON, STSHOST, "--cert", os.path.join(certs, cert + ".pem"),
                "--key", os.path.join(certs, cert + ".key"), "--mode", mode,
                "--log", self.log, "--listen", listen]
        if policy is not None:
            pfile = os.path.join(workdir, "policy-%d.txt" % len(policy))
            with open(pfile, "wb") as f:
                f.write(policy)
            args += ["--policy", pfile]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"port=(\d+)", line)
        assert m, "stshost did not start: %r" % line
        self.port = int(m.group(1))

    def requests(self):
        try:
            with open(self.log, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
