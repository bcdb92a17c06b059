"""emorec.data.console: progress as plain lines off a terminal, the native log filter, Keras' verbosity."""
import io
import os
import re

from emorec.data.console import LineProgress, keras_verbose, native_log_filter, progress_bar


def test_native_log_filter_drops_tensorflow_lines_and_keeps_the_rest(capfd):
    with native_log_filter():
        # Written to file descriptor 2 directly, as TensorFlow's C++ code does.
        os.write(2, b"I0000 00:00:1795974168.210197   13283 devices.cc:76] Number of eligible GPUs: 0\n")
        os.write(2, b"2026-11-29 17:42:48.210490: I tensorflow/core/grappler/clusters/single_machine.cc:361] x\n")
        os.write(2, b"a real problem the user must see\n")
    err = capfd.readouterr().err
    assert "devices.cc" not in err and "single_machine" not in err
    assert "a real problem the user must see" in err


def test_native_log_filter_disabled_passes_everything(capfd):
    with native_log_filter(enabled=False):
        os.write(2, b"I0000 00:00:1795974168.210197   13283 devices.cc:76] kept\n")
    assert "devices.cc:76] kept" in capfd.readouterr().err


def test_line_progress_prints_count_and_eta_one_line_per_step_without_redraws():
    out = io.StringIO()
    with LineProgress(total=4, description="features", unit="recording", line_every=2, file=out) as bar:
        for _ in range(3):
            bar.update()
    lines = out.getvalue().splitlines()
    # A line at 2 (line_every) and one at close (3 of 4): never a carriage return or ANSI code.
    assert [line.split(" [")[0] for line in lines] == ["features: 2/4 recording", "features: 3/4 recording"]
    assert all(re.search(r"\[\d\d:\d\d<\d\d:\d\d", line) for line in lines), lines  # elapsed<remaining
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_progress_bar_off_a_terminal_is_line_progress_and_keras_gets_verbose_2():
    # pytest captures stdout and stderr: neither is a terminal here.
    assert isinstance(progress_bar(3, "x", file=io.StringIO()), LineProgress)
    assert keras_verbose("auto") == 2
    assert keras_verbose(0) == 0


def test_epoch_progress_shows_each_number_once_unless_verbose():
    from emorec.data.console import set_verbose
    from emorec.training.progress import EpochProgress

    logs = {"loss": 0.9, "arousal_loss": 0.4, "arousal_ccc": 0.6, "mean_ccc": 0.6, "val_loss": 0.8,
            "val_arousal_loss": 0.3, "val_arousal_ccc": 0.7, "val_mean_ccc": 0.7}
    shown = EpochProgress(["arousal"])._shown(logs)
    assert list(shown) == ["loss", "arousal_ccc", "mean_ccc", "val_loss", "val_arousal_ccc", "val_mean_ccc"]
    set_verbose(True)  # emorec --verbose
    try:
        assert EpochProgress(["arousal"])._shown(logs) == logs
    finally:
        set_verbose(False)
