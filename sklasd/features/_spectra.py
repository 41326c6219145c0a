"""The numeric core of :class:`sklasd.features.LogMelTransformer`: framing, power
spectra and the mel product, into buffers a worker thread reuses from chunk to chunk.

Why these shapes: on 10 s, 16 kHz clips (n_fft 1024, hop 512, 128 mels) the dense
mel product was most of the arithmetic although 98.5 % of the mel basis is zeros;
:class:`MelBands` multiplies each group of consecutive mel filters by the FFT bins
where that group is nonzero only (about 13 % of the dense work with groups of 16
filters). The spectrum is laid out ``(n_bins, n_frames)``: a block's FFT bins are then
contiguous rows, on which the mel product runs twice as fast as on the columns of
``(n_frames, n_bins)``, and scipy's FFT costs the same along either axis. Fresh
multi-megabyte arrays per chunk page-fault; :class:`Workspace` keeps them. Every
step works on one clip with the same calls whatever else is in the chunk, so a
clip's features never depend on the other clips of a call.
"""
import numpy as np
import scipy.fft

__all__ = ["BLOCK_FRAMES", "MelBands", "Workspace", "frame", "power_spectrum"]

#: Consecutive mel filters multiplied together as one dense block.
FILTERS_PER_BAND = 16
#: Frames whose spectrum is computed at a time: a long recording's STFT buffers
#: (about 10 bytes per frame and FFT bin) stay bounded.
BLOCK_FRAMES = 4096


class MelBands:
    """A mel basis as dense blocks over each group of filters' nonzero FFT bins.

    Parameters
    ----------
    mel_basis : ndarray of shape (n_mels, n_bins), float32
    filters_per_band : int, default=16

    Notes
    -----
    ``apply`` computes ``mel_basis @ S`` for a clip's power spectrogram ``S`` of
    shape ``(n_bins, n_frames)``; the bins outside each block hold zeros of the
    basis, so the result is the dense product's up to float32 summation order.
    """

    def __init__(self, mel_basis, filters_per_band=FILTERS_PER_BAND):
        nonzero = mel_basis != 0
        n_mels, n_bins = mel_basis.shape
        # a filter without a nonzero weight (possible at tiny n_fft) spans no bin
        first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), 0)
        last = np.where(nonzero.any(axis=1), n_bins - nonzero[:, ::-1].argmax(axis=1), 0)
        self.n_mels = n_mels
        self.blocks = []
        for start in range(0, n_mels, filters_per_band):
            stop = min(start + filters_per_band, n_mels)
            lo, hi = first[start:stop].min(), max(last[start:stop].max(), 1)
            lo = min(lo, hi - 1)
            weights = np.ascontiguousarray(mel_basis[start:stop, lo:hi])
            self.blocks.append((start, stop, lo, hi, weights))

    def apply(self, power, out):
        """``out[:] = mel_basis @ power`` for one clip.

        Parameters
        ----------
        power : ndarray of shape (n_bins, n_frames), float32, C-contiguous rows
        out : ndarray of shape (n_mels, n_frames), float32, contiguous rows (a block
            of columns of a longer array too)
        """
        for start, stop, lo, hi, weights in self.blocks:
            np.matmul(weights, power[lo:hi], out=out[start:stop])
        return out


class Workspace:
    """Named arrays a worker reuses while the requested shape and dtype stay the same.

    ``get(name, shape, dtype)`` returns the array kept under ``name``, made afresh
    (zero-filled) only when the shape or dtype changes, so its contents persist from
    one call to the next (the zero edges of a padded signal buffer stay zero).
    """

    def __init__(self):
        self._arrays = {}

    def get(self, name, shape, dtype):
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = np.zeros(shape, dtype)
        return array


def frame(signals, n_fft, hop_length):
    """Read-only view ``(n_signals, n_frames, n_fft)`` of the frames of padded signals.

    Parameters
    ----------
    signals : ndarray of shape (n_signals, n_padded)
    n_fft, hop_length : int
    """
    return np.lib.stride_tricks.sliding_window_view(signals, n_fft, axis=1)[:, ::hop_length]


def power_spectrum(frames, window, power, workspace):
    """``|STFT| ** power`` of one signal's frames, float32 ``(n_bins, n_frames)``.

    The windowed frames, their real FFT (scipy's, single-threaded, in the window's
    precision: float32, or float64 then cast to complex64 as librosa does for
    float32 audio) and the squares go into buffers of ``workspace``; the result is
    a buffer of ``workspace`` too, valid until the next call.

    Parameters
    ----------
    frames : ndarray of shape (n_frames, n_fft), float32
        One signal's frames (:func:`frame`).
    window : ndarray of shape (n_fft,), float32 or float64
    power : float
    workspace : Workspace
    """
    windowed = np.multiply(frames, window,
                           out=workspace.get("frames", frames.shape, window.dtype))
    Z = scipy.fft.rfft(windowed.T, axis=0, overwrite_x=True).astype(np.complex64, copy=False)
    S = workspace.get("power", Z.shape, np.float32)
    np.square(Z.real, out=S)
    S += np.square(Z.imag, out=workspace.get("scratch", Z.shape, np.float32))
    if power != 2.0:
        S **= power / 2.0  # squares then a power: 6x faster than abs(Z) ** power
    return S
