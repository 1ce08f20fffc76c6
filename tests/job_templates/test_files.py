import os

import pytest

from job_templates.files import (
    UnsafePath,
    check_inside_root,
    check_relative_path,
    check_template_path,
    folder_storage,
    render_path,
)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/etc/passwd", "Absolute"),
        ("C:/x.csv", "Absolute"),
        ("~/x.csv", "Absolute"),
        ("../x.csv", ".."),
        ("a/../../x.csv", ".."),
        ("a/./x.csv", ".."),
        ("a\x00.csv", "NUL"),
        ("a\\..\\x.csv", "backslash"),
        ("a//x.csv", "Empty"),
        (".hidden", "Hidden"),
        ("a\n.csv", "control"),
        ("", "relative path"),
    ],
)
def test_unsafe_paths_are_refused(path, says):
    with pytest.raises(UnsafePath) as info:
        check_relative_path(path)
    assert says in str(info.value)


def test_template_placeholders_are_checked():
    assert check_template_path("tickets/{date}-{job}.{ext}")
    with pytest.raises(UnsafePath, match="Unknown placeholder"):
        check_template_path("x/{date.__class__}.csv")
    with pytest.raises(UnsafePath, match="Unbalanced"):
        check_template_path("x/{date.csv")


def test_render_path_fills_values_without_attribute_access():
    from datetime import UTC, datetime

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (
        render_path(
            "t/{date}_{time}_{job}.{ext}",
            values={"job": "My Job!", "ext": "csv"},
            now=when,
        )
        == "t/2026-01-02_030405_my_job.csv"
    )


def test_symlink_leading_out_of_the_root_is_refused(roots, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, roots["exports"] / "escape")
    storage = folder_storage("exports")
    with pytest.raises(UnsafePath, match="symlink"):
        check_inside_root(storage, "escape/x.csv")
    check_inside_root(storage, "inside/x.csv")
