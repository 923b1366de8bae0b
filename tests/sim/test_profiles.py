"""Vehicle profiles are data files; a broken one says which file, table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.sim.profile import ProfileError, builtin_profiles, load_profile, make_battery, with_overrides


def test_at_least_six_profiles_cover_every_standard_and_edition() -> None:
    profiles = [load_profile(name) for name in builtin_profiles()]
    assert len(profiles) >= 6
    standards = [p.standard for p in profiles]
    assert standards.count("ccs") >= 2 and standards.count("chademo") >= 2 and standards.count("gbt") >= 2
    editions = {p.protocol["edition"] for p in profiles if p.standard == "gbt"}
    assert editions == {"2011", "2015"}
    chademo_versions = {p.protocol["protocol_number"] for p in profiles if p.standard == "chademo"}
    assert {1, 2} <= chademo_versions
    assert {p.protocol["protocol"] for p in profiles if p.standard == "ccs"} == {"din", "iso-2"}


def test_800v_profile_has_an_800v_pack() -> None:
    battery = make_battery(load_profile("ccs-800v-77kwh"))
    assert battery.max_voltage_v > 750 and battery.capacity_kwh == pytest.approx(77.4, abs=1)


def test_overrides_make_a_new_profile() -> None:
    base = load_profile("gbt-2015-60kwh")
    changed = with_overrides(base, {"soc_pct": 55}, {"target_soc_pct": 90})
    assert changed.battery["soc_pct"] == 55 and changed.protocol["target_soc_pct"] == 90
    assert base.battery["soc_pct"] == 15


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "car.toml"
    path.write_text(text)
    return path


GOOD_BATTERY = """
[battery]
chemistry = "nmc"
cells_series = 96
cell_capacity_ah = 60
cell_resistance_ohm = 0.001
max_charge_current_a = 200
charge_power_kw = [[0, 50], [100, 5]]
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[vehicle\nname='x'", "not valid TOML"),
        (GOOD_BATTERY, "no [vehicle] table"),
        ("[vehicle]\nname = 'x'\nstandard = 'nacs'\n" + GOOD_BATTERY, "standard is 'nacs'"),
        ("[vehicle]\nname = 'x'\nstandard = 'ccs'\n", "no [battery] table"),
        (
            "[vehicle]\nname = 'x'\nstandard = 'ccs'\n" + GOOD_BATTERY.replace("96", '"ninety-six"'),
            "battery.cells_series",
        ),
        (
            "[vehicle]\nname = 'x'\nstandard = 'ccs'\n" + GOOD_BATTERY + "voltage = 400\n",
            "unknown field `voltage`",
        ),
        (
            "[vehicle]\nname = 'x'\nstandard = 'ccs'\n" + GOOD_BATTERY.replace("[[0, 50], [100, 5]]", "[[50, 1]]"),
            "charge_power_kw needs at least two",
        ),
        (
            "[vehicle]\nname = 'x'\nstandard = 'ccs'\n" + GOOD_BATTERY + "[gbt]\nedition = '2015'\n",
            "[vehicle] standard",
        ),
        ("[vehicle]\nname = 'x'\nstandard = 'ccs'\ncolour = 'red'\n" + GOOD_BATTERY, "unknown key(s) colour"),
    ],
)
def test_broken_profile_names_file_and_fix(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    message = str(err.value)
    assert needle in message and str(path) in message
    assert "\n" not in message


def test_unknown_profile_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="ccs-400v-77kwh"):
        load_profile("tesla-roadster")


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "[vehicle]\nname = 'x'\nstandard = 'ccs'\n" + GOOD_BATTERY + "[ccs]\nprotocol = 'din'\n")
    profile = load_profile(path)
    assert profile.protocol == {"protocol": "din"} and profile.standard == "ccs"
