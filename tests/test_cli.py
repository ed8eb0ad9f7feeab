"""The command line: help, version, one-line errors with exit code 2, data subcommands."""

import subprocess
import sys

import numpy as np
import pytest

from cislens import __version__
from cislens.cli import main
from cislens.sequence import read_fasta, write_fasta


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cislens {__version__}"


def test_help_lists_the_stages(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "extract", "shuffle", "simulate"):
        assert command in out


def test_bad_input_is_one_line_on_stderr_with_exit_code_2(tmp_path, capsys):
    code = main(
        [
            "extract",
            "--genome",
            str(tmp_path / "none.fa"),
            "--bed",
            str(tmp_path / "none.bed"),
            "--length",
            "10",
            "--out",
            str(tmp_path / "o.fa"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("cislens: error: ")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(
            [
                "--debug",
                "extract",
                "--genome",
                str(tmp_path / "none.fa"),
                "--bed",
                str(tmp_path / "none.bed"),
                "--length",
                "10",
                "--out",
                str(tmp_path / "o.fa"),
            ]
        )


def test_usage_error_exits_2(capsys):
    assert main(["extract"]) == 2
    assert "Missing option" in capsys.readouterr().err


def test_extract_writes_centred_windows(tmp_path):
    genome = tmp_path / "g.fa"
    write_fasta(genome, {"chr1": "AAAACCCCGGGGTTTT"})
    bed = tmp_path / "p.bed"
    bed.write_text("chr1\t4\t8\tp1\t0\t+\nchr1\t4\t8\tp2\t0\t-\n")
    out = tmp_path / "w.fa"
    assert (
        main(
            [
                "-q",
                "extract",
                "--genome",
                str(genome),
                "--bed",
                str(bed),
                "--length",
                "6",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert read_fasta(out) == {"p1": "ACCCCG", "p2": "CGGGGT"}


def test_shuffle_command_keeps_dinucleotide_counts(tmp_path):
    rng = np.random.default_rng(0)
    seqs = {f"s{i}": "".join(rng.choice(list("ACGT"), 40 + i)) for i in range(3)}
    src, out = tmp_path / "in.fa", tmp_path / "out.fa"
    write_fasta(src, seqs)
    assert main(["-q", "shuffle", str(src), "--n", "2", "--out", str(out)]) == 0
    shuffled = read_fasta(out)
    assert len(shuffled) == 6

    def pairs(s):
        return sorted(s[i : i + 2] for i in range(len(s) - 1))

    for name, seq in shuffled.items():
        assert pairs(seq) == pairs(seqs[name.rsplit("_shuf", 1)[0]])


def test_console_script_runs_as_a_module():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cislens.cli import main; sys.exit(main(['--version']))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert __version__ in result.stdout
