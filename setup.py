"""emorec: continuous speech emotion recognition from raw audio and semantic features."""
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent

#: `emorec predict`'s default model: kept in the checkout at saved_models/NAME (where export writes and
#: TF Serving mounts models) and copied into the built package as emorec/resources/models/NAME, so a
#: wheel install finds it through importlib.resources (emorec.export.predict.default_model_dir).
SHIPPED_MODEL = "emodb_paralinguistic"


class BuildWithShippedModel(build_py):
    """build_py that also copies the shipped SavedModel into the package being built."""

    def run(self):
        super().run()
        source = HERE / "saved_models" / SHIPPED_MODEL
        if not source.is_dir():  # an sdist built without it (MANIFEST.in grafts it) must not ship silently
            raise FileNotFoundError(f"{source}: the default model is missing from this source tree")
        target = Path(self.build_lib) / "emorec" / "resources" / "models" / SHIPPED_MODEL
        shutil.copytree(source, target, dirs_exist_ok=True)

# tensorflow-io 0.37.1 is its last release and its ops load only against TensorFlow 2.17.x;
# numpy must stay below 2 for that TensorFlow. Keep these pins together.
CORE = [
    "tensorflow-cpu==2.17.1; platform_machine=='x86_64'",
    "tensorflow==2.17.1; platform_machine!='x86_64'",
    "tensorflow-io==0.37.1",
    "keras>=3.4,<3.7",
    "numpy>=1.26,<2",
    "pandas>=2.1,<3",
    "scipy>=1.11,<1.18",
    "soxr>=0.3.7,<2",
    "gensim==4.4.0",
    "click>=8.1,<9",
    "pyyaml>=6,<7",
    "tqdm>=4.66,<5",
    "matplotlib>=3.8,<4",
    "protobuf>=4.21,<5",
    "ml-dtypes>=0.3,<0.5",
]

EXTRAS = {
    "gpu": ["tensorflow[and-cuda]==2.17.1"],
    # The ONNX and forced-alignment tests run in the default test install; only
    # tensorflow-serving-api needs a separate --no-deps install (see .ci/run).
    # The baseline's tests (tests/benchmarks) run in CI too, so the test install carries the bench extra.
    "test": ["pytest>=8,<10", "tf2onnx==1.17.0", "onnx>=1.15,<1.17", "onnxruntime>=1.17,<1.20",
             "grpcio>=1.24.3,<2", "pocketsphinx==5.1.1",
             "opensmile>=2.5,<3", "pyarrow<18", "scikit-learn>=1.3,<1.7"],
    "align": ["pocketsphinx==5.1.1"],
    "bench": ["opensmile>=2.5,<3", "pyarrow<18", "scikit-learn>=1.3,<1.7"],
    "onnx": ["tf2onnx==1.17.0", "onnx>=1.15,<1.17", "onnxruntime>=1.17,<1.20"],
    # gRPC requests to TF Serving (emorec.export.serving). tensorflow-serving-api itself requires the
    # full `tensorflow` wheel, which would clash with tensorflow-cpu, so it is not listed here: after
    # this extra, `pip install --no-deps "tensorflow-serving-api==2.17.*"`.
    "serving": ["grpcio>=1.24.3,<2"],
}

setup(
    name="emorec",
    version="0.1.0",
    description="Continuous speech emotion recognition with paralinguistic and semantic features "
    "(Tzirakis et al.), in TensorFlow/Keras.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9,<3.13",
    packages=find_packages(include=["emorec", "emorec.*", "tfrecords_tools", "tfrecords_tools.*"]),
    package_data={"emorec": ["resources/*.yaml", "resources/*.csv"]},
    include_package_data=True,
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["emorec=emorec.cli:main"]},
    cmdclass={"build_py": BuildWithShippedModel},
    license="MIT",
)
