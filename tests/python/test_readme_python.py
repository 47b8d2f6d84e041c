"""README's Python quick start, run as written (in a scratch directory)."""
import os
import re

README = os.path.join(os.environ.get("RELGEO_REPO", "."), "README.md")


def test_readme_python_quick_start_runs(tmp_path, monkeypatch):
    text = open(README, encoding="utf-8").read()
    section = text.split("## Python", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "README's Python section has no python block"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(blocks[0], "README.md (Python quick start)", "exec"), namespace)  # noqa: S102
    # The example ends by checking its own result; make sure it got there.
    assert namespace.get("mrr", 0) > 0.5
