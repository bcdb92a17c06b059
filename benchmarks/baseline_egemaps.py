"""The AVEC baseline recipe on a converted folder: eGeMAPS functionals + linear SVR, CCC on test.

    pip install -e ".[bench]"
    python benchmarks/baseline_egemaps.py --data converted/emodb [--run-dir runs/emodb]

One eGeMAPSv02 functionals vector (88 features, openSMILE) per recording, standardised with the
training statistics; one `LinearSVR` per dimension, its complexity C chosen on the development
partition. Each recording's prediction fills all its frames, and CCC is pooled over the frames of
the test partition exactly as `emorec evaluate` scores the neural model (masked frames excluded),
so the two figures compare directly. With `--run-dir` the model's test scores are printed beside.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

COMPLEXITIES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def load_partition(data_dir: Path, partition: str):
    import opensmile
    import tensorflow as tf

    from emorec.constants import SAMPLE_RATE_HZ
    from emorec.data.manifest import read_manifest
    from emorec.data.pipeline import partition_files
    from emorec.data.schema import example_to_recording

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    manifest = read_manifest(data_dir)
    features, labels, masks = [], [], []
    for record in tf.data.TFRecordDataset(partition_files(data_dir, partition, manifest)).as_numpy_iterator():
        recording = example_to_recording(record)
        signal = recording.audio[: recording.num_samples]
        features.append(smile.process_signal(signal, SAMPLE_RATE_HZ).to_numpy()[0])
        labels.append(recording.labels)
        masks.append(recording.label_mask)
    return np.array(features), labels, masks, list(manifest["label_names"])


def pooled_ccc(per_recording_pred: np.ndarray, labels, masks, dimension: int) -> float:
    from emorec.evaluation.ccc import ccc

    gold = np.concatenate([l[m > 0, dimension] for l, m in zip(labels, masks)])
    pred = np.concatenate([np.full(int((m > 0).sum()), p) for p, m in zip(per_recording_pred, masks)])
    return ccc(gold, pred)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--run-dir", type=Path, default=None, help="a trained run, to print its test CCC beside")
    parser.add_argument("--out", type=Path, default=None, help="write the scores as JSON here")
    args = parser.parse_args()
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVR

    data = {p: load_partition(args.data, p) for p in ("train", "devel", "test")}
    names = data["train"][3]
    scaler = StandardScaler().fit(data["train"][0])
    x = {p: np.nan_to_num(scaler.transform(data[p][0])) for p in data}
    scores = {"devel": {}, "test": {}, "C": {}}
    for d, name in enumerate(names):
        y_train = np.array([l[m > 0, d].mean() for l, m in zip(data["train"][1], data["train"][2])])
        best = None
        for c in COMPLEXITIES:
            model = LinearSVR(C=c, loss="squared_epsilon_insensitive", max_iter=20000, random_state=0).fit(x["train"], y_train)
            devel = pooled_ccc(model.predict(x["devel"]), data["devel"][1], data["devel"][2], d)
            if best is None or devel > best[0]:
                best = (devel, c, model)
        scores["devel"][name], scores["C"][name] = best[0], best[1]
        scores["test"][name] = pooled_ccc(best[2].predict(x["test"]), data["test"][1], data["test"][2], d)
    for part in ("devel", "test"):
        scores[part]["mean"] = float(np.mean([scores[part][n] for n in names]))
    print("eGeMAPS + LinearSVR (AVEC baseline recipe), CCC pooled over frames")
    header = "".join(f"{c:>12}" for c in [*names, "mean"])
    print(f"{'':28}{header}")
    for part in ("devel", "test"):
        print(f"{'baseline ' + part:28}" + "".join(f"{scores[part][c]:12.4f}" for c in [*names, "mean"]))
    if args.run_dir is not None:
        path = args.run_dir / "evaluation" / "test" / "scores.json"
        if path.is_file():
            model_scores = json.loads(path.read_text())
            for key in ("ccc", "ccc_postprocessed"):
                if model_scores.get(key):
                    print(f"{'model test ' + key:28}" + "".join(f"{model_scores[key][c]:12.4f}" for c in [*names, "mean"]))
    if args.out:
        args.out.write_text(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
