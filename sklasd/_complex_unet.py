"""The Deep Complex U-Net of :class:`sklasd.denoising.ComplexUNetDenoiser`.

Complex convolutions on ``[real; imaginary]`` channel stacks, an encoder-decoder with
skip connections and a bounded complex ratio mask (Choi et al., "Phase-aware speech
enhancement with deep complex U-Net", ICLR 2019).
"""
import numpy as np
import torch

# encoder kernel (frequency, time) and stride of every level
_KERNEL, _STRIDE = (5, 3), (2, 2)
_EPS = 1e-8

# 2.56 M parameters: the size of the SRPOL denoisers (2.6 M)
PAPER_CHANNELS = (32, 64, 80, 128, 128)


def _cat_complex(a, b):
    """Concatenate complex feature maps stored as ``[real channels; imag channels]``."""
    ar, ai = a.chunk(2, 1)
    br, bi = b.chunk(2, 1)
    return torch.cat([ar, br, ai, bi], 1)


class _ComplexConv(torch.nn.Module):
    """Complex (transposed) 2-D convolution as one real convolution.

    Feature maps hold ``C`` complex channels as ``2C`` real ones (real parts, then
    imaginary parts); ``(W_r + i W_i) * (x_r + i x_i)`` is the real convolution with
    the block weight ``[[W_r, -W_i], [W_i, W_r]]``.
    """

    def __init__(self, c_in, c_out, *, transposed=False):
        super().__init__()
        self.transposed = transposed
        shape = (c_in, c_out) if transposed else (c_out, c_in)
        fan_in = (c_out if transposed else c_in) * _KERNEL[0] * _KERNEL[1]
        bound = 1 / np.sqrt(2 * fan_in)
        self.w_re = torch.nn.Parameter(torch.empty(*shape, *_KERNEL).uniform_(-bound, bound))
        self.w_im = torch.nn.Parameter(torch.empty(*shape, *_KERNEL).uniform_(-bound, bound))
        self.bias = torch.nn.Parameter(torch.zeros(2 * c_out))

    def forward(self, x):
        pad = (_KERNEL[0] // 2, _KERNEL[1] // 2)
        if self.transposed:  # input channels on dim 0 of the weight
            w = torch.cat([torch.cat([self.w_re, self.w_im], 1),
                           torch.cat([-self.w_im, self.w_re], 1)], 0)
            return torch.nn.functional.conv_transpose2d(
                x, w, self.bias, stride=_STRIDE, padding=pad,
                output_padding=(_STRIDE[0] - 1, _STRIDE[1] - 1))
        w = torch.cat([torch.cat([self.w_re, -self.w_im], 1),
                       torch.cat([self.w_im, self.w_re], 1)], 0)
        return torch.nn.functional.conv2d(x, w, self.bias, stride=_STRIDE, padding=pad)


def _block(c_in, c_out, transposed):
    return torch.nn.Sequential(_ComplexConv(c_in, c_out, transposed=transposed),
                               torch.nn.BatchNorm2d(2 * c_out),
                               torch.nn.LeakyReLU(0.1))


class ComplexUNet(torch.nn.Module):
    """Deep Complex U-Net on the STFT that outputs the denoised waveform.

    Parameters
    ----------
    n_fft, hop_length : int
        STFT size and hop in samples (Hann window).
    channels : sequence of int
        Complex channels of the encoder levels; the decoder mirrors them, each
        level concatenating the encoder output of the same resolution (skip).

    Notes
    -----
    ``forward(x)`` maps waveforms ``(batch, n_samples)`` to waveforms of the same
    shape: ``istft(M * STFT(x))`` with the bounded mask ``M = tanh(|O|) O / |O|``
    of the network output ``O`` (:meth:`mask`). The input is divided by each clip's
    RMS before the network (the mask is then independent of the clip's level).
    """

    def __init__(self, n_fft, hop_length, channels):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        chans = [1] + list(channels)
        self.encoder = torch.nn.ModuleList(
            _block(a, b, False) for a, b in zip(chans[:-1], chans[1:]))
        dec = []
        for level in range(len(channels) - 1, 0, -1):
            c_in = chans[level + 1] if level == len(channels) - 1 else 2 * chans[level + 1]
            dec.append(_block(c_in, chans[level], True))
        self.decoder = torch.nn.ModuleList(dec)
        last_in = chans[1] * (1 if len(channels) == 1 else 2)
        self.head = _ComplexConv(last_in, 1, transposed=True)

    def _stft(self, x):
        return torch.stft(x, self.n_fft, self.hop_length, window=self.window,
                          center=True, return_complex=True)

    def _output(self, spec):
        """The network's complex output ``O`` for the spectrogram ``spec``."""
        n_f, n_t = spec.shape[-2:]
        m = 2 ** len(self.encoder)
        h = torch.cat([spec.real, spec.imag], 1)  # (batch, 2, F, T)
        h = torch.nn.functional.pad(h, (0, -n_t % m, 0, -n_f % m))
        skips = []
        for block in self.encoder:
            h = block(h)
            skips.append(h)
        skips.pop()
        for block in self.decoder:
            h = block(h)
            h = _cat_complex(h, skips.pop())
        o = self.head(h)[..., :n_f, :n_t]
        return torch.complex(o[:, 0], o[:, 1])

    def mask(self, x):
        """The bounded complex mask of ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, n_samples)
            Noisy waveforms.

        Returns
        -------
        mask : torch.Tensor of shape (batch, 1 + n_fft // 2, n_frames), complex
            Magnitude below 1 (``tanh`` of the network output's magnitude).
        """
        spec = self._stft(x / (x.square().mean(-1, keepdim=True).sqrt() + _EPS))
        o = self._output(spec[:, None])
        mag = o.abs()
        return torch.tanh(mag) * o / (mag + _EPS)

    def forward(self, x):
        return torch.istft(self.mask(x) * self._stft(x), self.n_fft, self.hop_length,
                           window=self.window, center=True, length=x.shape[-1])
