import subprocess
import sys
import io

from edge_albert.progress import progress_lines


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_carry_count_rate_and_eta_at_most_once_per_interval():
    clock, out = FakeClock(), io.StringIO()
    advance, finish = progress_lines(100, "teacher", "text", out, every=30, clock=clock)
    clock.now += 29.9
    advance(10)
    assert out.getvalue() == ""  # not yet 30 s
    clock.now += 0.1
    advance(10, loss=0.5)  # 20 texts in 30 s
    assert out.getvalue() == "teacher: 20/100 (20%) 0.7 text/s elapsed 0:00:30 eta 0:02:00 loss=0.5\n"
    clock.now += 10
    advance(80)
    finish()
    last = out.getvalue().splitlines()[-1]
    assert last == "teacher: 100/100 (100%) 2.5 text/s elapsed 0:00:40 loss=0.5"  # no eta once done
    finish()
    assert len(out.getvalue().splitlines()) == 2  # nothing new to say


def test_unknown_total_and_nothing_done():
    clock, out = FakeClock(), io.StringIO()
    _, finish = progress_lines(None, "shards", "file", out, every=30, clock=clock)
    finish()
    assert out.getvalue() == "shards: 0 elapsed 0:00:00\n"


def test_a_piped_stderr_gets_plain_lines():
    # What a CI log sees: no terminal, so no live bar, but lines with the count.
    code = ("from edge_albert.progress import progress_bar\n"
            "with progress_bar(3, 'work', 'item') as advance:\n"
            "    for _ in range(3): advance()\n")
    env = {"EDGE_ALBERT_PROGRESS_EVERY": "0", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    lines = done.stderr.splitlines()
    assert [line.split(" ")[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all(line.startswith("work: ") for line in lines)
