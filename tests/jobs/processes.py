"""Worker processes for the multi-process tests: a test worker module started N times against one database.

Each process prints ``ready <owner>`` once its worker runs; ``stop`` sends SIGTERM and waits (SIGKILL after 20 s).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcesses:
    def __init__(self, module: str, url: str) -> None:
        self.module = module
        self.url = url
        self.processes: list[subprocess.Popen[str]] = []
        self.owners: list[str] = []

    def start(self, count: int, **options: float) -> None:
        """Start ``count`` more processes, each with ``--name value`` for every option (``_`` written ``-``);
        wait until they run."""
        flags = [
            arg for name, value in options.items() for arg in (f"--{name.replace('_', '-')}", str(value))
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", self.module, self.url, *flags]
        started = [
            subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(count)
        ]
        self.processes.extend(started)
        for process in started:
            assert process.stdout is not None
            ready = process.stdout.readline().split()
            assert ready[:1] == ["ready"]
            self.owners.append(ready[1])

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
