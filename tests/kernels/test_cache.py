"""numba's on-disk cache of the kernels is rebuilt when any kernel source file changes
(issue 11), and loaded, not rebuilt, when nothing changed.

The end-to-end test edits a copy of the package: a probe kernel in a file of its own calls
a helper from `_random.py` and reads a constant from `_config.py`; numba's own cache keys
the probe on its own file only, so without chunkml's salt the edited copy runs the old
machine code.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import numba

import chunkml

PACKAGE = pathlib.Path(chunkml.__file__).resolve().parent

# Appended to the copy's files: the probe's file never changes, the helper's and the
# constant's do.
PROBE = """\
from numba import njit

from ._config import CACHE, PROBE_OFFSET
from ._random import probe_scale


@njit(nogil=True, cache=CACHE)
def probe(x):
    return probe_scale(x) + PROBE_OFFSET
"""
HELPER = """

@njit(nogil=True, cache=CACHE)
def probe_scale(x):
    return {factor} * x
"""
CONSTANT = "\nPROBE_OFFSET = {offset}\n"

RUN_PROBE = """\
import json
from chunkml.kernels import _probe
result = _probe.probe(10)
stats = _probe.probe.stats
print(json.dumps({"result": result, "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}))
"""


def _copy_package(root, factor, offset):
    kernels = root / "chunkml" / "kernels"
    shutil.copytree(PACKAGE, root / "chunkml", ignore=shutil.ignore_patterns("__pycache__"))
    (kernels / "_probe.py").write_text(PROBE)
    _append(kernels / "_random.py", HELPER.format(factor=factor))
    _append(kernels / "_config.py", CONSTANT.format(offset=offset))
    return kernels


def _append(path, text):
    path.write_text(path.read_text() + text)


def _edit(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def _start(root, cache_dir, **env):
    env = dict(os.environ, PYTHONPATH=str(root), CHUNKML_NUMBA_CACHE="1", **env)
    env.pop("NUMBA_DISABLE_JIT", None)
    if cache_dir is None:
        env.pop("NUMBA_CACHE_DIR", None)
    else:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return subprocess.Popen([sys.executable, "-c", RUN_PROBE], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def _run(root, cache_dir, **env):
    return _result(_start(root, cache_dir, **env))


def test_editing_a_helper_or_constant_in_another_kernel_file_rebuilds_the_caller(tmp_path):
    root, cache_dir = tmp_path / "site", tmp_path / "numba_cache"
    kernels = _copy_package(root, factor=2, offset=1)

    # Cold cache, two workers starting at once: both compile and save the same files.
    first = [_start(root, cache_dir) for _ in range(2)]
    assert [_result(p)["result"] for p in first] == [21, 21]
    # Unchanged package, fresh process: loaded from the cache, not compiled.
    assert _run(root, cache_dir) == {"result": 21, "hits": 1, "misses": 0}

    # A constant of _config.py, frozen into the probe's machine code.
    _edit(kernels / "_config.py", "PROBE_OFFSET = 1", "PROBE_OFFSET = 5")
    assert _run(root, cache_dir) == {"result": 25, "hits": 0, "misses": 1}
    assert _run(root, cache_dir) == {"result": 25, "hits": 1, "misses": 0}

    # A helper of another file, compiled into the probe. An mtime alone (the same
    # contents) must not count as a change.
    _edit(kernels / "_random.py", "return 2 * x", "return 3 * x")
    assert _run(root, cache_dir) == {"result": 35, "hits": 0, "misses": 1}
    stamp = time.time() + 60
    for path in kernels.glob("*.py"):
        os.utime(path, (stamp, stamp))
    assert _run(root, cache_dir) == {"result": 35, "hits": 1, "misses": 0}

    # Only the current salt's files are kept; NUMBA_CACHE_DIR was respected.
    from chunkml.kernels import _cache

    salt = _cache.source_salt(kernels)
    names = [p.name for p in cache_dir.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert any(n.startswith("_probe.probe-") for n in names), names
    assert names and all(f"-{salt}.py" in n for n in names), names
    assert not list(kernels.glob("__pycache__/*.nb[ic]"))


def test_read_only_package_uses_numbas_user_wide_cache_with_the_salt(tmp_path):
    # An installation whose __pycache__ cannot be created (a read-only wheel): numba
    # falls back to its user-wide cache directory, still keyed on every kernel file.
    root, user_cache = tmp_path / "site", tmp_path / "user_cache"
    kernels = _copy_package(root, factor=2, offset=1)
    (kernels / "__pycache__").write_text("not a directory")
    env = {"XDG_CACHE_HOME": str(user_cache), "PYTHONDONTWRITEBYTECODE": "1"}
    assert _run(root, None, **env) == {"result": 21, "hits": 0, "misses": 1}
    assert _run(root, None, **env) == {"result": 21, "hits": 1, "misses": 0}
    _edit(kernels / "_config.py", "PROBE_OFFSET = 1", "PROBE_OFFSET = 5")
    assert _run(root, None, **env) == {"result": 25, "hits": 0, "misses": 1}
    assert list(user_cache.glob("numba/kernels_*/_probe.probe-*.nbi"))


def test_salt_hashes_contents_of_every_kernel_file_and_numba_versions(tmp_path):
    from chunkml.kernels import _cache

    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(PACKAGE / "kernels", one, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PACKAGE / "kernels", two, ignore=shutil.ignore_patterns("__pycache__"))
    for path in two.glob("*.py"):
        os.utime(path, (0, 0))
    salt = _cache.source_salt(one)
    # Two copies (two workers, two wheels) agree whatever their mtimes and paths.
    assert re.fullmatch("[0-9a-f]{16}", salt)
    assert _cache.source_salt(two) == salt
    assert _cache.source_salt(PACKAGE / "kernels") == _cache.SALT == salt
    versions = (numba.__version__, _cache.llvmlite.__version__)
    assert _cache.source_salt(one, versions) == salt
    assert _cache.source_salt(one, (versions[0] + ".post1", versions[1])) != salt
    assert _cache.source_salt(one, (versions[0], versions[1] + ".post1")) != salt
    # Any .py file of the folder counts, even one no kernel imports; other files do not.
    (two / "notes.txt").write_text("x")
    assert _cache.source_salt(two) == salt
    (two / "_new.py").write_text("")
    assert _cache.source_salt(two) != salt


def test_kernels_use_the_salted_locator_in_numbas_usual_directory():
    # Catches a change of numba's private caching API (numba/core/caching.py), which
    # chunkml/kernels/_cache.py relies on: if the locator is not installed, caching is off.
    import importlib
    import pkgutil

    from chunkml import kernels
    from chunkml.kernels import _cache, _config

    assert _cache.SALTED and _config.CACHE
    assert _cache._CACHE_IMPL._locator_classes[0] is _cache._SaltedLocator
    dispatchers = {}
    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"chunkml.kernels.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, numba.core.registry.CPUDispatcher):
                dispatchers[f"{info.name}.{name}"] = value
    assert "_random.splitmix64" in dispatchers and len(dispatchers) > 10, dispatchers
    for name, dispatcher in dispatchers.items():
        assert type(dispatcher._cache._impl.locator) is _cache._SaltedLocator, name
        index_name = dispatcher._cache._cache_file._index_name
        pattern = rf"\w+\.[\w.]+-\d+-{_cache.SALT}\.py\d+\w*\.nbi"
        assert re.fullmatch(pattern, index_name), (name, index_name)

    # The directory numba itself would choose (NUMBA_CACHE_DIR, in-tree __pycache__, or
    # the user-wide cache).
    py_func = dispatchers["_random.splitmix64"].py_func
    for cls in _cache._CACHE_IMPL._locator_classes[1:]:
        numbas = cls.from_function(py_func, py_func.__code__.co_filename)
        if numbas is not None:
            break
    locator = dispatchers["_random.splitmix64"]._cache._impl.locator
    assert locator.get_cache_path() == numbas.get_cache_path()
    # numba's warning for a function it cannot cache reads the locator's file (as the
    # bounds check compiled at NUMBA_OPT=0 hits: "uses dynamic globals").
    assert locator._py_file == numbas._py_file == py_func.__code__.co_filename

    # Functions outside chunkml/kernels keep numba's own locator.
    @numba.njit(cache=True)
    def outside(x):
        return x

    assert type(outside._cache._impl.locator) is not _cache._SaltedLocator


def test_pruning_keeps_current_and_temporary_files(tmp_path):
    from chunkml.kernels import _cache

    salt, old = _cache.SALT, "0123456789abcdef"
    assert salt != old
    keep = [f"lloyd.f-12-{salt}.py311.nbi", f"lloyd.f-12-{salt}.py311.3.nbc",
            f"lloyd.f-12-{old}.py311.nbi.tmp.0123456789abcdef", "lloyd.cpython-311.pyc",
            f".chunkml-{salt}.lock"]
    drop = [f"lloyd.f-12-{old}.py311.nbi", f"lloyd.f-12-{old}.py311.1.nbc",
            "lloyd.f-12.py311.nbi", "lloyd.f-12.py311.2.nbc", f"a.f-3-{old}.py313t.nbi",
            f".chunkml-{old}.lock"]
    for name in keep + drop:
        (tmp_path / name).write_bytes(b"")
    _cache._prune(str(tmp_path), salt)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


# One process of the concurrent-save test: wait for the start time, then save `n` entries
# of its own into one salted index, as numba saves a kernel's signatures.
SAVE_ENTRIES = """\
import sys, time
from numba.core.caching import IndexDataCacheFile
from chunkml.kernels import _cache

path, proc, n, start, locked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    float(sys.argv[4]), sys.argv[5] == "1"
save = IndexDataCacheFile.save if locked else IndexDataCacheFile.save.__wrapped__
index = IndexDataCacheFile(cache_path=path, filename_base=f"probe.f-1-{_cache.SALT}.py311",
                           source_stamp=("chunkml", _cache.SALT))
while time.time() < start:
    pass
for i in range(n):
    save(index, (proc, i), f"machine code {proc}.{i}")
"""


def _save_concurrently(tmp_path, locked, n_procs=4, n_entries=25):
    """Entries of `n_procs` processes saving `n_entries` each at once, read back."""
    from numba.core.caching import IndexDataCacheFile

    from chunkml.kernels import _cache

    start = time.time() + 3.0  # every process imported and waiting
    procs = [subprocess.Popen([sys.executable, "-c", SAVE_ENTRIES, str(tmp_path), str(p),
                               str(n_entries), repr(start), "1" if locked else "0"],
                              stderr=subprocess.PIPE, text=True)
             for p in range(n_procs)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    index = IndexDataCacheFile(cache_path=str(tmp_path),
                               filename_base=f"probe.f-1-{_cache.SALT}.py311",
                               source_stamp=("chunkml", _cache.SALT))
    return {(p, i): index.load((p, i)) for p in range(n_procs) for i in range(n_entries)}


def test_concurrent_saves_of_different_signatures_keep_every_entry(tmp_path):
    # numba's own save reads the index, picks the first free data file name and writes
    # both back: processes saving at once lose each other's entries (or point them at
    # each other's data). Under chunkml's lock every entry survives, with its own data.
    loaded = _save_concurrently(tmp_path, locked=True)
    assert loaded == {key: f"machine code {key[0]}.{key[1]}" for key in loaded}
    from chunkml.kernels import _cache

    assert (tmp_path / f".chunkml-{_cache.SALT}.lock").exists()


def test_a_save_waits_for_the_lock_of_its_cache_directory(tmp_path):
    import threading

    from numba.core.caching import IndexDataCacheFile

    from chunkml.kernels import _cache

    assert IndexDataCacheFile.save.chunkml_locked
    index = IndexDataCacheFile(cache_path=str(tmp_path),
                               filename_base=f"probe.f-1-{_cache.SALT}.py311",
                               source_stamp=("chunkml", _cache.SALT))
    saver = threading.Thread(target=index.save, args=(("a",), "data"))
    with _cache.save_lock(str(tmp_path), _cache.SALT):
        saver.start()
        saver.join(0.5)
        assert saver.is_alive() and index.load(("a",)) is None
    saver.join(10)
    assert not saver.is_alive() and index.load(("a",)) == "data"
    # Caches of other functions (names without the salt) are not locked.
    other = IndexDataCacheFile(cache_path=str(tmp_path), filename_base="other.f-1.py311",
                               source_stamp="stamp")
    with _cache.save_lock(str(tmp_path), _cache.SALT):
        other.save(("b",), "other data")
    assert other.load(("b",)) == "other data"
