"""Which library modules a rule's function can run, read from the code (lthpipe.provenance)."""

from pathlib import Path

import pytest

from lthpipe import provenance

PACKAGE = {
    "__init__.py": "",
    "stages.py": "import math\nfrom lthpipe import train\nfrom .model import forward\n\n"
                 "def fit():\n    from lthpipe.sub import deep\n    return deep\n",
    "outputs.py": "from lthpipe import model\n\ndef export():\n    from lthpipe import export_format\n",
    "train.py": "from lthpipe.model import forward\n",
    "model.py": "def forward():\n    pass\n",
    "export_format.py": "import lthpipe.model\n",
    "unused.py": "",
    "sub/__init__.py": "",
    "sub/deep.py": "from ..model import forward\n",
}


@pytest.fixture()
def package(tmp_path) -> Path:
    root = tmp_path / "lthpipe"
    for name, text in PACKAGE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_modules_behind_a_function_are_its_imports_transitively(package):
    assert provenance.modules_behind("lthpipe.stages:fit", package) == [
        "lthpipe", "lthpipe.model", "lthpipe.stages", "lthpipe.sub", "lthpipe.sub.deep", "lthpipe.train",
    ]
    assert provenance.modules_behind("lthpipe.outputs:export", package) == [
        "lthpipe", "lthpipe.export_format", "lthpipe.model", "lthpipe.outputs",
    ]


def test_the_code_version_changes_exactly_with_the_modules_behind(package):
    fit, export = (provenance.code_version.__wrapped__(t, package) for t in ("lthpipe.stages:fit", "lthpipe.outputs:export"))
    with open(package / "export_format.py", "a") as f:
        f.write("# edited\n")
    assert provenance.code_version.__wrapped__("lthpipe.stages:fit", package) == fit
    assert provenance.code_version.__wrapped__("lthpipe.outputs:export", package) != export
    with open(package / "model.py", "a") as f:
        f.write("# edited\n")
    assert provenance.code_version.__wrapped__("lthpipe.stages:fit", package) != fit
    with open(package / "unused.py", "a") as f:
        f.write("# edited\n")
    new = provenance.code_version.__wrapped__("lthpipe.stages:fit", package)
    assert provenance.code_version.__wrapped__("lthpipe.stages:fit", package) == new


def test_an_unknown_function_is_refused(package):
    with pytest.raises(ValueError, match="no such lthpipe function"):
        provenance.modules_behind("lthpipe.stages:missing", package)
