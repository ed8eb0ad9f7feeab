"""Tests for cislens.pwm.meme: reading and writing the MEME minimal motif format."""

from __future__ import annotations

import numpy as np
import pytest

from cislens.pwm import Motif, read_meme, read_meme_background, write_meme

# Hand-written in the MEME minimal motif format
# (https://meme-suite.org/meme/doc/meme-format.html), with the irregularities real files have:
# Windows line endings (added below), a comment, an unknown header line, blank lines inside a
# matrix, a motif without an alternate name, a URL line and a matrix header without w=.
HAND_WRITTEN = """MEME version 5.5.0

# written by hand for the cislens tests
ALPHABET= ACGT

strands: + -
command: not a field we know

Background letter frequencies (from uniform background):
A 0.30000 C 0.20000
G 0.20000 T 0.30000

MOTIF MA0035.4 GATA1
letter-probability matrix: alength= 4 w= 3 nsites= 1000 E= 0

  0.000000  0.000000  1.000000  0.000000

  1.000000  0.000000  0.000000  0.000000
  0.000000  0.000000  0.000000  1.000000
URL http://jaspar.genereg.net/matrix/MA0035.4

MOTIF pattern_0
letter-probability matrix: alength= 4 nsites= 12 E= 1.2e-005
0.250 0.250 0.250 0.250
0.100 0.200 0.300 0.400

"""


def test_hand_written_file(tmp_path):
    path = tmp_path / "motifs.meme"
    path.write_bytes(HAND_WRITTEN.replace("\n", "\r\n").encode())
    motifs = read_meme(path)
    assert [m.name for m in motifs] == ["GATA1", "pattern_0"]
    assert [m.matrix_id for m in motifs] == ["MA0035.4", "pattern_0"]
    assert all(m.source == "motifs.meme" for m in motifs)
    assert motifs[0].consensus == "GAT"
    np.testing.assert_allclose(motifs[1].probabilities[:, 1], [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(read_meme_background(path), [0.3, 0.2, 0.2, 0.3])


def test_text_input_and_missing_background():
    text = HAND_WRITTEN.split("Background")[0] + "MOTIF m1\n" + HAND_WRITTEN.split("pattern_0\n")[1]
    [motif] = read_meme(text)
    assert motif.name == "m1" and motif.source is None and motif.width == 2
    assert read_meme_background(text) is None
    assert read_meme(text, source="db")[0].source == "db"


def random_motifs(n: int) -> list[Motif]:
    rng = np.random.default_rng(3)
    motifs = []
    for index in range(n):
        probabilities = rng.dirichlet(np.ones(4) * 0.5, size=5 + index).T
        motifs.append(Motif(f"TF{index}", probabilities, matrix_id=f"MA000{index}.1"))
    return motifs


def test_round_trip(tmp_path):
    motifs = [*random_motifs(3), Motif("same", np.full((4, 2), 0.25), matrix_id="same")]
    path = write_meme(tmp_path / "out" / "motifs.meme", motifs, background=(0.3, 0.2, 0.2, 0.3))
    back = read_meme(path)
    assert [m.name for m in back] == [m.name for m in motifs]
    assert [m.matrix_id for m in back] == [m.matrix_id for m in motifs]
    for original, read in zip(motifs, back, strict=True):
        np.testing.assert_allclose(read.probabilities, original.probabilities, atol=1e-6, rtol=0)
    np.testing.assert_allclose(read_meme_background(path), [0.3, 0.2, 0.2, 0.3], atol=1e-6)
    assert "MOTIF same\n" in path.read_text()


def test_motif_without_matrix_id_and_nsites(tmp_path):
    counts = np.array([[8, 0], [0, 0], [2, 10], [0, 0]])
    motifs = [Motif("plain", np.full((4, 1), 0.25)), Motif.from_counts("counted", counts)]
    text = write_meme(tmp_path / "m.meme", motifs).read_text()
    assert "MOTIF plain\n" in text and "nsites= 20 " in text and "nsites= 10 " in text
    assert "nsites= 7 " in write_meme(tmp_path / "n.meme", motifs, nsites=7).read_text()
    back = read_meme(tmp_path / "m.meme")
    assert back[0].name == back[0].matrix_id == "plain"


def test_memelite_reads_our_output(tmp_path):
    memelite_io = pytest.importorskip("memelite.io")
    motifs = random_motifs(2)
    path = write_meme(tmp_path / "motifs.meme", motifs)
    theirs = memelite_io.read_meme(str(path))
    assert list(theirs) == ["MA0000.1 TF0", "MA0001.1 TF1"]
    for motif, pwm in zip(motifs, theirs.values(), strict=True):
        np.testing.assert_allclose(pwm, motif.probabilities, atol=1e-6)


def test_we_read_memelite_output(tmp_path):
    memelite_io = pytest.importorskip("memelite.io")
    pwm = np.array([[0.5, 0.1], [0.5, 0.2], [0.0, 0.3], [0.0, 0.4]])
    memelite_io.write_meme(str(tmp_path / "theirs.meme"), {"X1": pwm})
    [motif] = read_meme(tmp_path / "theirs.meme")
    assert motif.name == "X1"
    np.testing.assert_allclose(motif.probabilities, pwm)


def matrix_text(rows: str, header: str = "alength= 4 w= 2 nsites= 5 E= 0") -> str:
    return (
        "MEME version 4\n\nALPHABET= ACGT\n\nMOTIF MA1 bad\n"
        f"letter-probability matrix: {header}\n{rows}"
    )


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            matrix_text("0.25 0.25 0.5\n0.25 0.25 0.25 0.25\n"),
            r"motif 'MA1' \(line 5\): line 7 must hold 4 probabilities.*got 3",
        ),
        (
            matrix_text("0.25 0.25 0.25 0.25\n0.25 x 0.25 0.25\n"),
            r"motif 'MA1' \(line 5\): line 8 has the non-numeric value 'x'",
        ),
        (matrix_text("0.25 0.25 0.25 0.25\nURL x\n"), r"line 8 should be row 2 of w= 2"),
        (matrix_text("0.25 0.25 0.25 0.25\n"), r"w= 2 but the file ends after 1 rows"),
        (
            matrix_text("0.25 0.25 0.25 0.25\n" * 3),
            r"w= 2 but line 9 holds another probability row",
        ),
        (
            matrix_text("0.2 0.2 0.2 0.2\n" * 2, header="alength= 20 w= 2"),
            r"motif 'MA1'.*alength= 20 on line 6; only DNA motifs",
        ),
        (matrix_text("5 3 1 1\n" * 2), r"line 7 sum to 10, not 1.*Motif.from_counts"),
        (
            matrix_text("0.25 0.25 0.25 0.25\n" * 2).replace("ACGT", "ACGU"),
            r"line 3: only the DNA alphabet 'ALPHABET= ACGT' is supported",
        ),
        ("MEME version 4\n\nALPHABET= ACGT\n", r"no MOTIF entries found"),
        ("MEME version 4\nMOTIF lonely\n\nMOTIF other\n", r"motif 'lonely' \(line 2\) has no"),
        (
            "MEME version 4\nBackground letter frequencies\nA 0.5 C 0.5\nMOTIF m\n",
            r"line 2: 'Background letter frequencies' must be followed by",
        ),
    ],
)
def test_parse_errors_name_motif_and_line(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        read_meme(text)


def test_missing_file_and_bad_writes(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"absent\.meme"):
        read_meme(tmp_path / "absent.meme")
    with pytest.raises(ValueError, match="motifs is empty"):
        write_meme(tmp_path / "x.meme", [])
    with pytest.raises(ValueError, match="without whitespace"):
        write_meme(tmp_path / "x.meme", [Motif("two words", np.full((4, 1), 0.25))])
    with pytest.raises(TypeError, match=r"motifs\[0\] must be a cislens.pwm.Motif"):
        write_meme(tmp_path / "x.meme", [np.full((4, 1), 0.25)])
    with pytest.raises(ValueError, match="background must sum to 1"):
        write_meme(tmp_path / "x.meme", random_motifs(1), background=(0.5, 0.5, 0.5, 0.5))
    assert list(tmp_path.iterdir()) == []


def test_header_alone_when_allowed(tmp_path):
    # What a motif stage that found nothing writes: the header, so no earlier file lingers.
    path = write_meme(tmp_path / "none.meme", [], allow_empty=True)
    text = path.read_text()
    assert text.startswith("MEME version 4\n") and "MOTIF" not in text
    assert text.splitlines()[-1] == "A 0.250000 C 0.250000 G 0.250000 T 0.250000"
    with pytest.raises(ValueError, match="no MOTIF entries"):
        read_meme(path)
