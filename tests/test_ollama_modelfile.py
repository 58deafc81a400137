"""The Modelfile as Ollama reads it: our port of its parser against Ollama's own parser tests, and values read back exactly."""

import pytest

from engine.errors import UserError
from engine.outputs.gguf.modelfile import modelfile_text
from engine.outputs.gguf.ollama_modelfile import ModelfileError, modelfile_line, parse_modelfile

# Cases from ollama/ollama parser/parser_test.go (commit fb30760): TestParseFileQuoted, TestParseFileTrimSpace,
# TestParseFileMessages, TestParseFileComments, TestParseMultiByte.
OLLAMA_CASES = [
    ('\nFROM foo\nSYSTEM """\nThis is a\nmultiline system.\n"""\n\t\t\t',
     [("model", "foo"), ("system", "\nThis is a\nmultiline system.\n")]),
    ('\nFROM foo\nSYSTEM """\nThis is a\nmultiline system."""\n\t\t\t', [("model", "foo"), ("system", "\nThis is a\nmultiline system.")]),
    ('\nFROM foo\nSYSTEM """This is a\nmultiline system."""\n\t\t\t', [("model", "foo"), ("system", "This is a\nmultiline system.")]),
    ('\nFROM foo\nSYSTEM """This is a multiline system."""\n\t\t\t', [("model", "foo"), ("system", "This is a multiline system.")]),
    ('\nFROM foo\nSYSTEM """This is a multiline system.""\n\t\t\t', ModelfileError),
    ('\nFROM foo\nSYSTEM "\n\t\t\t', ModelfileError),
    ('\nFROM foo\nSYSTEM """\nThis is a multiline system with "quotes".\n"""\n',
     [("model", "foo"), ("system", '\nThis is a multiline system with "quotes".\n')]),
    ('\nFROM foo\nSYSTEM """"""\n', [("model", "foo"), ("system", "")]),
    ('\nFROM foo\nSYSTEM ""\n', [("model", "foo"), ("system", "")]),
    ('\nFROM foo\nSYSTEM "\'"\n', [("model", "foo"), ("system", "'")]),
    ('\nFROM foo\nSYSTEM """\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'"""\n', [("model", "foo"), ("system", '\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'')]),
    ('\nFROM foo\nTEMPLATE """\n{{ .Prompt }}\n"""', [("model", "foo"), ("template", "\n{{ .Prompt }}\n")]),
    ('\nFROM "     model 1"\nADAPTER      adapter3\nLICENSE "MIT       "\nPARAMETER param1        value1\n'
     'PARAMETER param2    value2\nTEMPLATE """   {{ .System }}<|eot_id|>\n\n{{ .Response }}<|eot_id|>   """    \n',
     [("model", "     model 1"), ("adapter", "adapter3"), ("license", "MIT       "), ("param1", "value1"), ("param2", "value2"),
      ("template", "   {{ .System }}<|eot_id|>\n\n{{ .Response }}<|eot_id|>   ")]),
    ('\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\n',
     [("model", "foo"), ("message", "system: You are a file parser. Always parse things."), ("message", "user: Hey there!")]),
    ('\nFROM foo\nMESSAGE system """\nYou are a multiline file parser. Always parse things.\n"""\n\t\t\t',
     [("model", "foo"), ("message", "system: \nYou are a multiline file parser. Always parse things.\n")]),
    ("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n", ModelfileError),
    ("\nFROM foo\nMESSAGE system\n", ModelfileError),
    ("\nFROM foo\nPARAMETER param1\n", ModelfileError),
    ("\nFROM foo\nBADCOMMAND param1 value1\n", ModelfileError),
    ("\n# comment\nFROM foo\n\t", [("model", "foo")]),
    ("FROM test\n\tSYSTEM 你好👋", [("model", "test"), ("system", "你好👋")]),
    ("SYSTEM hello\n", ModelfileError),
]
OLLAMA_PARAMETERS = {  # TestParseFileParameters
    "stop ### User:": "### User:", "stop ### User: ": "### User:", 'stop "### User:"': "### User:",
    'stop "### User: "': "### User: ", 'stop """### User:"""': "### User:", 'stop """### User:\n"""': "### User:\n",
    "stop <|eot_id|>": "<|eot_id|>", "top_p 1.0": "1.0",
}


@pytest.mark.parametrize("text, expected", OLLAMA_CASES)
def test_the_parser_port_reads_ollamas_own_test_cases_as_ollama_does(text, expected):
    if expected is ModelfileError:
        with pytest.raises(ModelfileError):
            parse_modelfile(text)
    else:
        assert parse_modelfile(text) == expected


def test_the_parser_port_reads_ollamas_parameter_cases():
    for line, value in OLLAMA_PARAMETERS.items():
        assert parse_modelfile(f"FROM foo\nPARAMETER {line}\n") == [("model", "foo"), (line.split()[0], value)], line


@pytest.mark.parametrize("system", ['Answer in """quoted""" blocks.', "Line one.\nLine two.\n", 'She said "hi"',
                                    '""starts with quotes', '  padded  ', 'ends with a quote"\nthen "more"', "tab\there"])
def test_a_system_prompt_with_quotes_or_newlines_reaches_ollama_intact(system):
    text = modelfile_text("model-q8_0.gguf", None, system)
    assert parse_modelfile(text) == [("model", "./model-q8_0.gguf"), ("system", system)]


@pytest.mark.parametrize("stop", ["### Instruction:", "<|im_end|>", 'say "', "\n\nUser:"])
def test_a_stop_string_reaches_ollama_intact(stop):
    line = modelfile_line("PARAMETER stop", stop, "a stop string")
    assert parse_modelfile(f"FROM ./m.gguf\n{line}\n")[1] == ("stop", stop)


@pytest.mark.parametrize("system, named", [('Reply with """\nand then stop', 'line 1 ends with """'),
                                           ("no\u00a0break", "NO-BREAK SPACE (U+00A0)")])
def test_a_system_prompt_ollama_cannot_read_back_is_refused_naming_why(system, named):
    with pytest.raises(UserError, match="system prompt") as refused:
        modelfile_text("model-q8_0.gguf", None, system)
    assert named in str(refused.value) and "no escapes" in str(refused.value)
