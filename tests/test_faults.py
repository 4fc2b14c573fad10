"""Faults a laptop really sees: a full disk, a read-only data folder. Nothing lost, one sentence."""

import os
import subprocess
from contextlib import contextmanager

import pytest
from conftest import run_cli


@contextmanager
def tmpfs(path, options: str):
    """A tiny or read-only filesystem of our own; mounting needs root (as CI has)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs for a full or read-only disk")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_gives_one_sentence_and_exit_code_2(tmp_path, notes):
    with tmpfs(tmp_path / "full", "size=200k") as disk:
        result = run_cli("ingest.py", "--knowledge", str(notes), "--db", str(disk / "data"))
    assert result.returncode == 2
    assert "is full; free some space" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_read_only_data_folder_gives_one_sentence(tmp_path, notes):
    with tmpfs(tmp_path / "ro", "ro") as disk:
        result = run_cli("-m", "assistant", "search", "attention", "--db", str(disk / "data"))
    assert result.returncode == 2
    assert "writable" in result.stderr and "Traceback" not in result.stderr


def test_killing_the_app_mid_answer_loses_nothing(seed):
    """SIGKILL while a chat is answering: the index and the quiz progress still open and work."""
    import json
    import signal
    import sys
    import time

    from conftest import ROOT

    db = str(seed.settings.data_dir)
    notes = str(seed.settings.knowledge_dir)
    rated = run_cli("-m", "assistant", "quiz", "--n", "1", "--db", db, "--knowledge", notes,
                    input="no idea\n3\n")
    assert rated.returncode == 0, rated.stderr
    chat = subprocess.Popen([sys.executable, "-m", "assistant", "chat", "--db", db, "--knowledge", notes],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    chat.stdin.write("What is the last mile challenge?\n")
    chat.stdin.flush()
    time.sleep(3)  # loading the model and answering
    chat.send_signal(signal.SIGKILL)
    chat.wait()

    search = run_cli("-m", "assistant", "search", "LinkedIn months", "--json", "--db", db)
    assert json.loads(search.stdout)["hits"][0]["heading"].endswith("The Last Mile Challenge: Demo vs. Product")
    progress = run_cli("-m", "assistant", "quiz", "--progress", "--json", "--db", db, "--knowledge", notes)
    assert progress.returncode == 0, progress.stderr
    assert json.loads(progress.stdout)["counts"]["reviewed_today"] == 1  # the review before the kill
