"""The C++ engine embedded in an application of one's own, as cpp/README.md says to do it:
``cmake --install`` the build, then ``find_package(bifsmn)`` and link ``bifsmn::engine``.

Until session 71 ``cmake --install`` installed nothing and there was no package to find. The
application here reads a WAV with the installed ``bifsmn/wav.h`` and runs the installed engine;
its logits must be bit-identical to the Python API's on the same clip (a 1-bit model).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cpp_build import CPP, build_lock, build_runner

from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.testing import make_checkpoint, synthetic_audio

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")

APP = """\
#include <bifsmn/engine.h>
#include <bifsmn/wav.h>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  try {
    auto eng = bifsmn::Engine::load_file(argv[1]);
    const bifsmn::Wave wav =
        bifsmn::read_wav(argv[2], static_cast<std::size_t>(eng->feature_config().clip_samples));
    std::vector<float> logits(static_cast<std::size_t>(eng->num_classes()));
    eng->predict_audio(wav.mono.data(), 1, wav.mono.size(), logits.data());
    for (float v : logits) std::printf("%a\\n", static_cast<double>(v));
  } catch (const bifsmn::BkwsError& e) {
    std::fprintf(stderr, "app: %s\\n", e.what());
    return 2;
  }
  return 0;
}
"""

APP_CMAKE = """\
cmake_minimum_required(VERSION 3.16)
project(kws_app LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 14)  # an older project: the package's targets ask for C++17 themselves
find_package(bifsmn 0.1 REQUIRED)
add_executable(kws_app main.cc)
target_link_libraries(kws_app PRIVATE bifsmn::engine)
"""


def test_installed_engine_links_into_an_app_by_find_package(tmp_path: Path) -> None:
    build_runner("native")  # the libraries and the runner, built as the suite builds them
    prefix = tmp_path / "prefix"
    with build_lock(CPP / "build-native"):
        subprocess.run(["cmake", "--install", str(CPP / "build-native"), "--prefix", str(prefix)],
                       check=True, capture_output=True, text=True)
    for part in ("include/bifsmn/engine.h", "include/bifsmn/wav.h", "bin/bifsmn-run"):
        assert (prefix / part).is_file(), part
    assert list(prefix.glob("lib*/cmake/bifsmn/bifsmnConfig.cmake"))
    assert list(prefix.glob("lib*/libbifsmn_engine.a"))
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.cc").write_text(APP)
    (app / "CMakeLists.txt").write_text(APP_CMAKE)
    out = subprocess.run(["cmake", "-S", str(app), "-B", str(app / "build"),
                          f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    out = subprocess.run(["cmake", "--build", str(app / "build")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    model = export_checkpoint(make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=9),
                              tmp_path / "m.bkws")
    clip = synthetic_audio(1, seed=9)[0]
    wav = tmp_path / "clip.wav"
    sf.write(str(wav), clip, 16000, subtype="FLOAT")
    run = subprocess.run([str(app / "build" / "kws_app"), str(model), str(wav)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    native = np.array([float.fromhex(v) for v in run.stdout.split()], np.float32)
    np.testing.assert_array_equal(native, Engine(model).predict(clip.astype(np.float32)))
    bad = subprocess.run([str(app / "build" / "kws_app"), str(tmp_path / "none.bkws"), str(wav)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "none.bkws: cannot open" in bad.stderr
