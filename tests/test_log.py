"""Messages of the sklasd command (sklasd._log)."""
import io
import warnings

from sklasd._log import LOGGER, PROGRESS, logging_to_stderr, use_colour


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(_Terminal()) and not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(_Terminal())


def test_redirected_log_holds_messages_only(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = io.StringIO()
    with logging_to_stderr(0, stream):
        PROGRESS.plan(2)
        PROGRESS.begin("fan")
        PROGRESS.phase("training 3/10")
        LOGGER.info("\x1b[32mgreen\x1b[0m note")
    assert stream.getvalue() == "green note\n"


def test_progress_line_on_a_terminal_is_erased_under_messages():
    stream = _Terminal()
    with logging_to_stderr(0, stream):
        PROGRESS.plan(6)
        PROGRESS.step = 2
        PROGRESS.begin("fan")
        PROGRESS.phase("training 45/100")
        LOGGER.info("note")
    text = stream.getvalue()
    assert "\r[3/6] fan: training 45/100" in text
    erased = text.index("note")
    assert text[:erased].endswith("\r")  # the line was blanked before the message
    assert text.endswith("\r")  # and erased at the end


def test_each_warning_once_and_none_when_quiet():
    stream = io.StringIO()
    with logging_to_stderr(0, stream):
        for _ in range(3):
            warnings.warn("too few clips for a gamma fit", UserWarning)
        warnings.warn("another kind", UserWarning)
    assert stream.getvalue().splitlines() == [
        "sklasd: warning: too few clips for a gamma fit", "sklasd: warning: another kind"]
    quiet = io.StringIO()
    with logging_to_stderr(-1, quiet):
        warnings.warn("too few clips for a gamma fit", UserWarning)
        LOGGER.info("note")
        LOGGER.error("bad")
    assert quiet.getvalue() == "sklasd: error: bad\n"


def test_epoch_rows_only_when_verbose():
    normal, verbose = io.StringIO(), io.StringIO()
    for level, stream in ((0, normal), (1, verbose)):
        with logging_to_stderr(level, stream):
            LOGGER.debug("fan: epoch 1/2 train_loss=1.0000")
    assert normal.getvalue() == "" and "epoch 1/2" in verbose.getvalue()
