"""sam2.utils.cli: the output flag and its aliases, devices, exit codes of run_main, the command
that swaps the model for an official one."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from sam2.utils import cli


def _parser(**kwargs) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    cli.add_output_flag(p, **kwargs)
    cli.add_progress_flag(p)
    cli.add_device_flag(p)
    return p


@pytest.mark.parametrize("flag", ["--output", "--out", "--output-dir"])
def test_every_spelling_of_the_output_flag_lands_in_args_output(flag):
    args = _parser().parse_args([flag, "x/y"])
    assert args.output == Path("x/y")
    assert _parser().parse_args([]).output is None  # the tool applies its default


def test_required_output_is_refused_when_absent(capsys):
    with pytest.raises(SystemExit) as info:
        _parser(required=True).parse_args([])
    assert info.value.code == 2
    assert "--output" in capsys.readouterr().err


def test_device_auto_and_bad_names():
    assert cli.resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert cli.resolve_device("cpu") == "cpu"
    with pytest.raises(cli.ToolError) as info:
        cli.resolve_device("tpu9")
    assert info.value.code == cli.EXIT_USAGE and "--device 'tpu9'" in str(info.value)
    if not torch.cuda.is_available():
        with pytest.raises(cli.ToolError, match="CUDA is not available") as info:
            cli.resolve_device("cuda:0")
        assert info.value.code == 2


def _main_that(action):
    def main(argv=None):
        return action(argv)
    return main


def _raise(exc):
    def action(argv):
        raise exc
    return action


def test_run_main_exit_codes(capsys):
    assert cli.run_main(_main_that(lambda argv: 0)) == 0
    assert cli.run_main(_main_that(lambda argv: None)) == 0
    assert cli.run_main(_main_that(lambda argv: 1)) == 1
    assert cli.run_main(_main_that(_raise(cli.ToolError("no such file: a.png")))) == 1
    assert "error: no such file: a.png" in capsys.readouterr().err
    assert cli.run_main(_main_that(_raise(cli.ToolError("--device x", cli.EXIT_USAGE)))) == 2
    assert cli.run_main(_main_that(_raise(KeyboardInterrupt()))) == 130
    assert "interrupted" in capsys.readouterr().err
    parser = _parser(required=True)
    assert cli.run_main(lambda argv: parser.parse_args(argv), ["--bogus"]) == 2  # argparse: bad arguments
    assert cli.run_main(lambda argv: parser.parse_args(argv), ["--help"]) == 0
    assert cli.run_main(_main_that(_raise(SystemExit("error: --mask m.png is empty")))) == 1
    assert "m.png is empty" in capsys.readouterr().err
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        cli.run_main(_main_that(lambda argv: 1 / 0))


def test_command_with_model_replaces_the_model_flags():
    argv = ["--video", "my clip", "--config", "c.yaml", "--checkpoint=x.pt", "--points", "3,4", "--model", "m"]
    assert cli.command_with_model("tools/demo.py", argv) == (
        "python tools/demo.py --video 'my clip' --points 3,4 --model facebook/sam2.1-hiera-tiny")


def test_click_and_box_parsers_apply_the_library_rules():
    """One click parser and one box parser for every tool, with the library's prompt rules."""
    import argparse

    assert cli.parse_click("3,4") == (3.0, 4.0, 1)
    assert cli.parse_click("3,4,0") == (3.0, 4.0, 0)
    assert cli.parse_box("1,2,30,40") == (1.0, 2.0, 30.0, 40.0)
    for bad in ("3", "3,nan", "a,b", "3,4,2", "3,4,0.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="--points"):
            cli.parse_click(bad)
    for bad in ("1,2,3", "9,9,1,1", "1,2,1,40", "1,2,inf,4"):
        with pytest.raises(argparse.ArgumentTypeError, match="--box"):
            cli.parse_box(bad)
