"""The monitor's log panel gets library warnings, except the deprecation noise quiet_libraries silences."""

import logging
import warnings

from engine.libraries import quiet_libraries
from tui.monitor.logcapture import capture_library_logs


class Writer:
    def __init__(self):
        self.messages = []

    def emit(self, event, **fields):
        self.messages.append(fields["message"])


def test_library_future_warnings_stay_quiet_and_other_warnings_reach_the_panel():
    with warnings.catch_warnings():  # an earlier run in this process turned capture on, then its caller's
        logging.captureWarnings(True)  # catch_warnings ended and put the old showwarning back (pytest does)
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
             for name in ("transformers", "trl", "peft", "accelerate", "datasets", "py.warnings")}
    writer = Writer()
    try:
        with warnings.catch_warnings():
            warnings.resetwarnings()
            quiet_libraries()
            capture_library_logs(writer)  # after quiet_libraries, as in a run: it must not undo it
            warnings.warn_explicit("`is_gradient_checkpointing` is deprecated", FutureWarning,
                                   "modeling_utils.py", 1, module="transformers.modeling_utils")
            warnings.warn_explicit("the data has a problem", UserWarning, "train.py", 1, module="engine.run.train")
    finally:
        logging.captureWarnings(False)
        for name, (handlers, propagate) in saved.items():
            logging.getLogger(name).handlers, logging.getLogger(name).propagate = handlers, propagate
    assert not any("is_gradient_checkpointing" in message for message in writer.messages)
    assert any("the data has a problem" in message for message in writer.messages)
