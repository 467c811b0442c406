import re

import nbformat
import pytest

from stagebook import reports, sanitize

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'
HOSTILE = "x onerror=alert(document.domain)"


def _page(*outputs):
    """Render one code cell holding ``outputs`` (each a ``(data, metadata)`` pair)."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data=data, metadata=metadata)
        for data, metadata in outputs
    ]
    nb.cells = [cell]
    return reports.html_of(nb)


def _images(page):
    return re.findall(r"<img\b[^>]*>", page)


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg"])
@pytest.mark.parametrize("size", ["width", "height"])
@pytest.mark.parametrize("scoped", [True, False], ids=["per-mime", "top-level"])
def test_the_sanitizer_drops_attributes_built_from_image_metadata(mime, size, scoped):
    metadata = {mime: {size: HOSTILE}} if scoped else {size: HOSTILE}
    page = _page(({mime: PNG}, metadata))
    (image,) = _images(page)
    assert "onerror" not in page and "alert(" not in page
    assert f"{size}=" not in image  # not a plain number: dropped, not passed on
    assert f"data:{mime};base64,{PNG}" in image  # the image itself stays


def test_image_sizes_that_are_numbers_and_the_metadata_classes_are_kept():
    metadata = {"image/png": {"width": 640, "height": "480", "unconfined": True}}
    metadata["needs_background"] = "light"
    (image,) = _images(_page(({"image/png": PNG}, metadata)))
    assert 'width="640"' in image and 'height="480"' in image
    assert "unconfined" in image and "jp-needs-light-background" in image


def test_a_size_with_more_after_the_number_is_dropped_whole():
    metadata = {"image/jpeg": {"width": "100 onload=alert(1)", "height": "50 style=x"}}
    (image,) = _images(_page(({"image/jpeg": PNG}, metadata)))
    assert "onload" not in image and "width=" not in image and "height=" not in image


def test_an_image_file_named_in_metadata_loads_nothing():
    metadata = {"filenames": {"image/png": "https://evil.example/t.png"}}
    (image,) = _images(_page(({"image/png": PNG}, metadata)))
    assert "evil.example" not in image and f"data:image/png;base64,{PNG}" in image


def test_an_svg_output_renders_as_a_data_image_without_handlers():
    page = _page(({"image/svg+xml": SVG.replace("/>", ' onload="alert(1)"/>')}, {}))
    (image,) = _images(page)
    assert image.startswith('<img alt="') and "data:image/svg+xml;base64," in image
    assert "onload" not in page


def test_image_metadata_that_is_not_a_mapping_renders_without_a_crash():
    (image,) = _images(_page(({"image/png": PNG}, {"image/png": HOSTILE})))
    assert "onerror" not in image


@pytest.mark.parametrize(
    "markup",
    [
        '<img src="data:image/png;base64,AA" width=x onerror=alert(1)>',
        '<img/src="data:image/png;base64,AA"/onerror=alert(1)>',
        '<div ONMOUSEOVER="alert(1)">text</div>',
        '<a href=" JavaScript:alert(1)">link</a>',
        '<img src="https://evil.example/t.png">',
        '<img src="data:image/png;base64,AA" srcset="https://evil.example/t.png 2x">',
    ],
)
def test_no_event_handler_or_script_link_survives_the_page_pass(markup):
    page = sanitize.page(f"<html><body>{markup}</body></html>")
    assert "alert" not in page and "evil.example" not in page
    assert re.search(r"\son\w+=", page, re.IGNORECASE) is None
