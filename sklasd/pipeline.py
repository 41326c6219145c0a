"""scikit-learn's Pipeline with the detectors' ``anomaly_score`` and ``anomaly_map``."""
import numpy as np
from sklearn import pipeline as _skpipeline
from sklearn.utils.metadata_routing import process_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .utils._routing import ANOMALY_SCORE_REQUEST, reject_params_without_routing

__all__ = ["Pipeline", "make_pipeline"]


def _final_estimator_has(attr):
    """Check that the final step has ``attr`` (for ``available_if``)."""

    def check(self):
        getattr(self._final_estimator, attr)  # raises AttributeError if missing
        return True

    return check


class Pipeline(_skpipeline.Pipeline):
    """A scikit-learn ``Pipeline`` that also exposes ``anomaly_score`` and ``anomaly_map``.

    Everything else is :class:`sklearn.pipeline.Pipeline` unchanged; see its
    documentation for the parameters.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        Transformers followed by a final estimator (a detector for ``anomaly_score``).
    transform_input : list of str, default=None
        Metadata transformed by the steps before reaching the consumer (scikit-learn).
    memory : str or joblib.Memory, default=None
        Caches fitted transformers (for example ``LogMelTransformer``).
    verbose : bool, default=False
        Prints the time of each step's fit.

    Attributes
    ----------
    named_steps : Bunch
        The steps by name.
    n_features_in_ : int
        Features seen by the first step during ``fit``.

    Notes
    -----
    ``anomaly_score`` is not one of the method names scikit-learn's metadata routing
    knows (``set_anomaly_score_request`` cannot exist), so the pipeline routes to
    the final step's ``anomaly_score`` exactly the metadata requested for its
    ``decision_function``, and to the transformers what they request for
    ``transform``, as :meth:`decision_function` does. A detector that uses
    ``machine_id`` therefore requests it for ``decision_function``.

    References
    ----------
    The detectors' contract follows scikit-learn's outlier
    detectors (``IsolationForest``) with DCASE's higher-is-anomalous score added.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklasd.pipeline import make_pipeline
    >>> from sklasd.detectors import AutoencoderDetector
    >>> X = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    >>> pipe = make_pipeline(StandardScaler(), AutoencoderDetector(
    ...     hidden_layer_sizes=(8,), bottleneck=2, max_epochs=2, random_state=0))
    >>> pipe.fit(X).anomaly_score(X).shape
    (50,)
    >>> len(pipe.anomaly_map(X)), pipe.anomaly_map(X)[0].shape
    (50, (8,))
    """

    @available_if(_final_estimator_has("anomaly_score"))
    def anomaly_score(self, X, **params):
        """Transform the data, then return the final detector's ``anomaly_score``.

        Parameters
        ----------
        X : iterable
            Input of the first step (audio, paths, spectrograms or windows).
        **params : dict of str -> object
            Metadata (``machine_id``, ``domain``) routed as for
            ``decision_function``. Only with ``enable_metadata_routing=True``.

        Returns
        -------
        scores : ndarray of shape (n_clips,), dtype float64
            Per-clip anomaly score, higher = more anomalous.

        Raises
        ------
        ValueError
            If metadata is given while metadata routing is disabled.
        """
        Xt, final, final_params, _ = self._scoring_input(X, params, "anomaly_score")
        return final.anomaly_score(Xt, **final_params)

    @available_if(_final_estimator_has("anomaly_map"))
    def anomaly_map(self, X, **params):
        """Where each clip's anomaly score comes from, on its log-mel frames.

        Transforms the data as :meth:`anomaly_score` does, takes the final
        detector's ``anomaly_map`` (in its own input layout) and maps it back
        through the steps, last to first, down to the output of the
        ``LogMelTransformer`` step (or to the input of the first step where
        there is none).

        Parameters
        ----------
        X : iterable
            Input of the first step (audio, paths, spectrograms or windows); clips
            may differ in length where the steps allow it.
        **params : dict of str -> object
            Metadata routed as for :meth:`anomaly_score`.

        Returns
        -------
        maps : list of n_clips ndarray of shape (n_mels, n_frames_i), float32
            Clip ``i``'s map on its own log-mel frames (frame ``t`` centred at
            ``t * hop_length / sr`` seconds); values >= 0, larger where the cell
            raised the score more. A clip's map does not depend on the other
            clips of ``X``.

        Raises
        ------
        ValueError
            If metadata is given while metadata routing is disabled, or a step
            after the log-mel one changes the shape of the clips and has no
            ``inverse_map``.

        Notes
        -----
        A step with an ``inverse_map(maps, X_step)`` method (``FrameStacker``,
        ``TemporalPooling``, ``SpectrogramScaler``) puts the maps of its output
        back on its input ``X_step``; a step without one that keeps every clip's
        shape (a scaler) leaves the maps as they are.
        """
        Xt, final, final_params, inputs = self._scoring_input(X, params, "anomaly_map",
                                                              keep_inputs=True)
        maps = final.anomaly_map(Xt, **final_params)
        for name, transform, X_step in reversed(inputs):
            if _is_spectrogram_step(transform):
                break
            maps = _map_back(name, transform, maps, X_step)
        return [np.maximum(np.asarray(m, dtype=np.float32), 0) for m in maps]

    def _scoring_input(self, X, params, method, keep_inputs=False):
        """The final step's input, the final step, its metadata, and (when asked)
        ``(name, transformer, its input)`` of every transformer."""
        check_is_fitted(self)
        reject_params_without_routing(params, self, method)
        routed_params = process_routing(self, ANOMALY_SCORE_REQUEST, **params)
        Xt, inputs = X, []
        for _, name, transform in self._iter(with_final=False):
            if keep_inputs:
                inputs.append((name, transform, Xt))
            Xt = transform.transform(
                Xt, **routed_params.get(name, {}).get("transform", {})
            )
        final_name, final = self.steps[-1]
        final_params = routed_params.get(final_name, {}).get(ANOMALY_SCORE_REQUEST, {})
        return Xt, final, final_params, inputs


def _is_spectrogram_step(step):
    """Whether ``step`` turns waveforms into spectrograms: it has
    ``spectrogram_axes()`` (as :class:`sklasd.features.LogMelTransformer`)."""
    return callable(getattr(step, "spectrogram_axes", None))


def spectrogram_step(pipeline):
    """The pipeline's (last) step that turns waveforms into spectrograms.

    Such a step has a ``spectrogram_axes()`` method returning ``sr``,
    ``hop_length``, ``fmin`` and ``fmax`` of its output (as
    :class:`sklasd.features.LogMelTransformer` does).

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline

    Returns
    -------
    position : int
        Its index in ``pipeline.steps``.
    step : estimator

    Raises
    ------
    ValueError
        If no step has ``spectrogram_axes``.

    Examples
    --------
    >>> from sklasd.models import make_model
    >>> from sklasd.pipeline import spectrogram_step
    >>> position, step = spectrogram_step(make_model("knn"))
    >>> position, step.spectrogram_axes()["sr"]
    (0, 16000)
    """
    found = [(k, step) for k, (_, step) in enumerate(pipeline.steps)
             if _is_spectrogram_step(step)]
    if not found:
        raise ValueError(f"the model ({' -> '.join(n for n, _ in pipeline.steps)}) has "
                         "no step that turns waveforms into spectrograms (such as "
                         "LogMelTransformer) to draw a spectrogram from")
    return found[-1]


def _map_back(name, step, maps, X_step):
    """Maps of ``step``'s output put back on its input ``X_step``."""
    if hasattr(step, "inverse_map"):
        return step.inverse_map(maps, X_step)
    shapes = [np.shape(x) for x in X_step]
    if [np.shape(m) for m in maps] != shapes:
        raise ValueError(
            f"Step {name!r} ({type(step).__name__}) changes the shape of the clips and "
            "has no inverse_map(maps, X): the anomaly maps cannot be mapped back "
            "through it.")
    return maps


def make_pipeline(*steps, memory=None, transform_input=None, verbose=False):
    """Build a :class:`Pipeline` from estimators, naming the steps automatically.

    Parameters
    ----------
    *steps : list of estimators
        Transformers followed by a final estimator.
    memory : str or joblib.Memory, default=None
        Caches fitted transformers.
    transform_input : list of str, default=None
        Metadata transformed by the steps before reaching the consumer.
    verbose : bool, default=False
        Prints the time of each step's fit.

    Returns
    -------
    pipeline : Pipeline
        A :class:`sklasd.pipeline.Pipeline` with ``anomaly_score``.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklasd.pipeline import make_pipeline
    >>> make_pipeline(StandardScaler()).steps[0][0]
    'standardscaler'
    """
    sk = _skpipeline.make_pipeline(*steps, memory=memory,
                                   transform_input=transform_input, verbose=verbose)
    return Pipeline(**sk.get_params(deep=False))
