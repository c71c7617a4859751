"""The rules of each kind of setting value (app/launch/checks.py) and the messages that say how to fix one."""
from __future__ import annotations

import pytest

from app.launch import checks
from app.launch.checks import Refused
from app.launch.settings import WHOLE_NUMBERS

#: Values that would end a quote, start a line or run a command where mod_wsgi-express writes them.
INJECTIONS = ['x"y', "x'y", "x\ny", "x$(id)", "x`id`", "x;id", "x y", "x\\y", "x\ry"]


@pytest.mark.parametrize("name", WHOLE_NUMBERS)
def test_every_whole_number_setting_has_its_default_and_its_bounds(name):
    default, low, high = WHOLE_NUMBERS[name]
    var = f"MODELHOST_{name}"
    assert checks.whole_number({}, name, default, low, high) == default
    assert checks.whole_number({var: ""}, name, default, low, high) == default, "empty stands for the default"
    assert checks.whole_number({var: str(low)}, name, default, low, high) == low
    assert checks.whole_number({var: f"00{low}"}, name, default, low, high) == low, "leading zeros are decimal"
    if low > 0:
        with pytest.raises(Refused, match=f"^{var} must be at least {low}, got {low - 1}$"):
            checks.whole_number({var: str(low - 1)}, name, default, low, high)
    if high is not None:
        assert checks.whole_number({var: str(high)}, name, default, low, high) == high
        with pytest.raises(Refused, match=f"^{var} must be at most {high}, got {high + 1}$"):
            checks.whole_number({var: str(high + 1)}, name, default, low, high)
    for text in ("-1", "1.5", " 1", "1e3", "ten", "1\n"):
        with pytest.raises(Refused) as refused:
            checks.whole_number({var: text}, name, default, low, high)
        assert str(refused.value) == f"{var} must be a whole number, got '{text}'"


def test_only_the_port_has_an_upper_bound_and_the_defaults_are_the_tuned_ones():
    bounded = {name: bounds for name, bounds in WHOLE_NUMBERS.items() if bounds[2] is not None}
    assert bounded == {"PORT": (8000, 1, 65535)}
    assert WHOLE_NUMBERS["PROCESSES"][0] == 2 and WHOLE_NUMBERS["MAX_CLIENTS"][0] == 384
    assert WHOLE_NUMBERS["MAX_CONTENT_LENGTH"][0] == 10 * 1024 * 1024


@pytest.mark.parametrize(("text", "value"), [("on", "on"), ("TRUE", "on"), ("Yes", "on"), ("1", "on"), ("off", "off"),
                                             ("False", "off"), ("NO", "off"), ("0", "off"), ("", "on")])
def test_switches(text, value):
    assert checks.switch({"MODELHOST_ACCESS_LOG": text}, "ACCESS_LOG", "on") == value


@pytest.mark.parametrize("text", ["maybe", " on", "on\n", "enabled", "\u0130"])
def test_a_switch_that_is_neither_on_nor_off_is_refused(text):
    with pytest.raises(Refused) as refused:
        checks.switch({"MODELHOST_ACCESS_LOG": text}, "ACCESS_LOG", "on")
    assert str(refused.value) == f"MODELHOST_ACCESS_LOG must be 'on' or 'off', got '{text}'"


@pytest.mark.parametrize(("value", "ipv4", "ipv6", "name"), [
    ("127.0.0.1", True, False, False), ("255.255.255.255", True, False, False), ("256.1.1.1", False, False, False),
    ("01.2.3.4", False, False, False), ("1.2.3", False, False, False), ("localhost", False, False, True),
    ("models-1.example.com", False, False, True), ("a" * 64, False, False, False), ("-a", False, False, False),
    ("::", False, True, False), ("::1", False, True, False), ("1:2:3:4:5:6:7:8", False, True, False),
    ("1:2:3:4:5:6:7:8:9", False, False, False), ("1::2::3", False, False, False),
    ("::ffff:10.0.0.1", False, True, False),
    ("1:2:3:4:5:6:7::", False, True, False), ("1:2:3:4:5:6:7::8", False, False, False), ("[::1]", False, False, False),
    ("fe80::1%eth0", False, False, False),
])
def test_addresses_and_host_names(value, ipv4, ipv6, name):
    assert (checks.is_ipv4(value), checks.is_ipv6(value), checks.is_hostname(value)) == (ipv4, ipv6, name)


@pytest.mark.parametrize(("value", "text"), [
    ("plain", "'plain'"), ("it's", "'it's'"), ("a\nb", "$'a\\nb'"), ("a\tb c", "$'a\\tb c'"),
    ("q'\n", "$'q\\'\\n'"), ("\\\x01", "$'\\\\\\001'"), ("\x1b", "$'\\E'"), ("é\x7f", "$'é\\177'"),
    ("\u0085", "$'\\302\\205'"),
])
def test_a_value_with_control_characters_is_shown_on_one_line_as_bash_writes_it(value, text):
    assert checks.shown(value) == text


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_path_that_would_end_a_quote_or_a_line_is_refused(value):
    with pytest.raises(Refused) as refused:
        checks.check_path("MODELHOST_SERVER_ROOT", f"/srv/{value}", "set it to such a path")
    assert str(refused.value) == ("MODELHOST_SERVER_ROOT must be a path of letters, digits and . _ - + @ / only (it is "
                                  "written into Apache's configuration and a shell script), got "
                                  f"{checks.shown('/srv/' + value)}; set it to such a path")


def test_a_path_of_the_allowed_characters_passes():
    checks.check_path("MODELHOST_SERVER_ROOT", "/dev/shm/modelhost-0_1.2+x@y", "fix")


@pytest.mark.parametrize("value", ["33", "", "www data", "-x", *[f"www-data{bad}" for bad in INJECTIONS]])
def test_an_account_that_is_no_name_is_refused(value):
    with pytest.raises(Refused) as refused:
        checks.check_account("MODELHOST_USER", value, "passwd")
    assert str(refused.value) == (f"MODELHOST_USER must be the name of an account (letters, digits, _ . -; not a "
                                  f"number), got {checks.shown(value)}; set it to one that getent passwd lists, such "
                                  "as www-data")


def test_an_account_or_group_this_system_lacks_is_refused():
    checks.check_account("MODELHOST_USER", "root", "passwd")
    checks.check_account("MODELHOST_GROUP", "root", "group")
    with pytest.raises(Refused) as refused:
        checks.check_account("MODELHOST_GROUP", "no-such-group-mh", "group")
    assert str(refused.value) == ("MODELHOST_GROUP: there is no group 'no-such-group-mh' on this system (getent group "
                                  "no-such-group-mh finds none); set it to one that getent group lists, such as "
                                  "www-data")


@pytest.mark.parametrize(("value", "level"), [
    ("warn", "warn"), ("  warn   ssl:info ", "warn ssl:info"), ("TRACE8 core:Debug", "TRACE8 core:Debug"),
    ("mod_x.y:crit", "mod_x.y:crit"),
])
def test_apache_log_levels_are_taken_one_space_apart(value, level):
    assert checks.check_log_level("MODELHOST_APACHE_LOG_LEVEL", value) == level


FIX = ("set it to an Apache log level (emerg, alert, crit, error, warn, notice, info, debug, trace1 to trace8), "
       "optionally with module:level pairs such as 'warn ssl:info wsgi:debug', or unset it")


@pytest.mark.parametrize(("value", "message"), [
    ("warn\nHeader set X y", "MODELHOST_APACHE_LOG_LEVEL must be Apache's LogLevel on one line, got "
                             f"$'warn\\nHeader set X y'; {FIX}"),
    ("warn\tinfo", f"MODELHOST_APACHE_LOG_LEVEL must be Apache's LogLevel on one line, got $'warn\\tinfo'; {FIX}"),
    ("   ", f"MODELHOST_APACHE_LOG_LEVEL is set but holds no level, got '   '; {FIX}"),
    ("loud", f"MODELHOST_APACHE_LOG_LEVEL: 'loud' is not a log level or module:level, got 'loud'; {FIX}"),
    ("warn ssl:trace9", "MODELHOST_APACHE_LOG_LEVEL: 'ssl:trace9' is not a log level or module:level, got "
                        f"'warn ssl:trace9'; {FIX}"),
    ('warn"', f"MODELHOST_APACHE_LOG_LEVEL: 'warn\"' is not a log level or module:level, got 'warn\"'; {FIX}"),
    ("warn $(id)", f"MODELHOST_APACHE_LOG_LEVEL: '$(id)' is not a log level or module:level, got 'warn $(id)'; {FIX}"),
])
def test_an_apache_log_level_that_is_none_or_would_add_a_directive_is_refused(value, message):
    with pytest.raises(Refused) as refused:
        checks.check_log_level("MODELHOST_APACHE_LOG_LEVEL", value)
    assert str(refused.value) == message
