"""What each machine type of ``sklasd run`` trains on, described in plain words, and
the clips whose duration differs from the training clips'."""
import numpy as np

__all__ = ["train_test", "cross_fitted", "duration_notes", "durations"]


def cross_fitted(train, test):
    """Whether the clips are scored by k-fold models, each fitted without the clip
    it scores: all test clips also train (unlabeled recordings) and there are two
    or more (one clip can only be scored by the model fitted on it)."""
    return len(train) >= 2 and np.isin(test, train).all()


def train_test(frame, train_fraction, min_train, seed):
    """Training and test positions for one machine type, and what each ID trained on.

    An ID with at least ``min_train`` normal clips in its ``train`` split trains on
    them and is scored on all its other clips. An ID with fewer (most folders of
    real recordings hold test clips only) also trains on a seeded ``train_fraction``
    of its other normal clips, per domain where the data has domains, and is scored
    on the rest; a domain or ID without normal clips only contributes test clips.
    A machine type without any normal clip (a DCASE evaluation test set, one's own
    unlabeled recordings) trains on its unlabeled clips, taken to be mostly normal
    (those of the ``train`` split if there are any), and every clip is scored.
    Where no clip is left to score (a single normal clip), the training clips are.
    """
    train, test = [], []
    for machine_id, rows in frame.groupby("machine_id", sort=True):
        pos = rows.index.to_numpy()
        normal = (rows["target"] == 0).to_numpy()
        in_train = (rows["split"] == "train").to_numpy() & normal
        others = ~(rows["split"] == "train").to_numpy()
        if in_train.sum() < min_train:
            in_train |= _fraction_of_normals(rows, others & normal, train_fraction, seed)
        train.append(pos[in_train])
        test.append(pos[~in_train & (others | ~normal)])
    train, test = np.concatenate(train), np.concatenate(test)
    if train.size == 0:  # no labelled normal clip anywhere: the unlabeled ones
        unlabeled = (frame["target"] == -1).to_numpy()
        from_split = unlabeled & (frame["split"] == "train").to_numpy()
        train = frame.index.to_numpy()[from_split if from_split.any() else unlabeled]
        test = frame.index.to_numpy()[~from_split] if from_split.any() else \
            frame.index.to_numpy()
    if test.size == 0:  # too few clips to hold any out: the training clips are scored
        test = train
    return np.sort(train), np.sort(test), _describe_training(frame, train, test)


def _fraction_of_normals(rows, candidates, train_fraction, seed):
    """Mask of a seeded ``train_fraction`` of the ``candidates`` of ``rows``, drawn in
    each domain that has normal clips (a domain without any gives none)."""
    from sklasd.model_selection import normal_train_test_split

    mask = np.zeros(len(rows), dtype=bool)
    where = np.flatnonzero(candidates)
    if where.size:
        tr, _ = normal_train_test_split(
            np.zeros(where.size, dtype=int), groups=rows["domain"].to_numpy()[where],
            train_size=train_fraction, random_state=seed)
        mask[where[tr]] = True
    return mask


def _clips(n, what):
    return f"{n} {what} clip{'s' if n != 1 else ''}"


def _describe_training(frame, train, test):
    """``{machine_id: what the model scoring it was trained on}``, in plain words."""
    used = frame.loc[train]
    machine_type = frame["machine_type"].iloc[0]
    in_sample = ("; each clip is scored by a model fitted without it (5-fold)"
                 if cross_fitted(train, test) else
                 "; scored by the model fitted on it" if np.isin(test, train).any() else "")
    if (used["target"] == -1).all():
        text = (f"trained on {_clips(len(train), 'unlabeled')} of {machine_type}, "
                f"taken as normal{in_sample}")
        return {machine_id: text for machine_id in frame["machine_id"].unique()}
    described = {}
    for machine_id in frame["machine_id"].unique():
        mine = used[used["machine_id"] == machine_id]
        others = used[used["machine_id"] != machine_id]
        name = machine_id or "the folder"
        if mine.empty:
            described[machine_id] = (
                f"no normal clips of {name} to train on: scored by the {machine_type} "
                f"model, trained on {_clips(len(others), 'normal')} of "
                f"{', '.join(sorted(set(others['machine_id'])))}")
            continue
        text = f"trained on {_clips(len(mine), 'normal')} of {name}{_domains(mine)}"
        drawn = int((mine["split"] != "train").sum())
        if drawn:
            text += f", {drawn} of them drawn from its clips outside a train folder"
        if not others.empty:
            text += (f", in one {machine_type} model with {len(others)} of "
                     f"{', '.join(sorted(set(others['machine_id'])))}")
        described[machine_id] = text + in_sample
    return described


def _domains(rows):
    """`` (source)`` or `` (20 source, 7 target)``: the domains of some clips."""
    counts = rows["domain"][rows["domain"] != ""].value_counts().sort_index()
    if counts.empty:
        return ""
    if len(counts) == 1:
        return f" ({counts.index[0]})"
    return " (" + ", ".join(f"{n} {d}" for d, n in counts.items()) + ")"


def duration_notes(paths, reference):
    """Per-file note where a duration differs by >10 % from the training clips'."""
    from sklasd.features import duration_outliers

    notes = np.full(len(paths), "", dtype=object)
    if reference is None or not len(paths) or not isinstance(paths[0], str):
        return notes
    seconds = durations(paths)
    for i in duration_outliers(seconds, reference):
        notes[i] = (f"duration {seconds[i]:.2f} s differs by more than 10% from the "
                    f"training clips' {reference:.2f} s")
    return notes


def durations(paths):
    """Durations in seconds from the file headers (NaN where one cannot be read)."""
    import soundfile as sf

    from sklasd.audio import _sf_path

    return np.array([_seconds(sf, _sf_path(path)) for path in paths])


def _seconds(sf, path):
    try:
        return sf.info(path).duration
    except (sf.LibsndfileError, RuntimeError, OSError):
        return np.nan
