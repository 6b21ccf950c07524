"""Batch normalization (Ioffe & Szegedy; the book's ch. 6), per feature column.

Training forward over a batch x (N, D):
    mu = mean_n x,  xc = x - mu,  var = mean_n xc^2,  std = sqrt(var + eps),
    xn = xc / std,  out = gamma * xn + beta
and the running statistics for inference
    running_mean = momentum * running_mean + (1 - momentum) * mu   (same for var).
Inference forward: out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta.

Backward keeps the book's chain (dxn, dxc, dstd, dvar, dmu), written with
xc = xn * std, which it equals: per column j, with dgamma_j = sum_n xn dout
and dbeta_j = sum_n dout,
    dxc = gamma / std * (dout - xn * dgamma / N),   dx = dxc - mean_n dxc.
Sums over the batch accumulate in float64 in both dtypes.  Arrays are
C-contiguous and of one float dtype; outputs are preallocated.
"""
import numpy as np

from ._config import kernel

#: The book's epsilon inside the square root (``10e-7``).
EPS = 1e-6


@kernel
def batchnorm_forward_train(x, gamma, beta, eps, mu, var, std, xn, out):
    """x: (N, D); gamma, beta: (D,).  Writes the batch mu, var, std (D,), the normalised
    xn (N, D) that backward needs, and out = gamma * xn + beta (N, D); out may alias x."""
    N, D = x.shape
    acc = np.zeros(D)
    for n in range(N):
        for j in range(D):
            acc[j] += x[n, j]
    for j in range(D):
        mu[j] = acc[j] / N
        acc[j] = 0.0
    for n in range(N):
        for j in range(D):
            c = np.float64(x[n, j]) - np.float64(mu[j])
            acc[j] += c * c
    for j in range(D):
        var[j] = acc[j] / N
        std[j] = np.sqrt(np.float64(var[j]) + eps)
    for n in range(N):
        for j in range(D):
            v = (x[n, j] - mu[j]) / std[j]
            xn[n, j] = v
            out[n, j] = gamma[j] * v + beta[j]
    return out


@kernel
def batchnorm_running_update(momentum, mu, var, running_mean, running_var):
    """running = momentum * running + (1 - momentum) * batch statistic, for mean and var."""
    m = running_mean.dtype.type(momentum)
    r = running_mean.dtype.type(1.0 - momentum)
    for j in range(running_mean.size):
        running_mean[j] = m * running_mean[j] + r * mu[j]
        running_var[j] = m * running_var[j] + r * var[j]


@kernel
def batchnorm_forward_infer(x, gamma, beta, running_mean, running_var, eps, out):
    """out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta.  x, out: (N, D)."""
    N, D = x.shape
    scale = np.empty(D, dtype=x.dtype)
    for j in range(D):
        scale[j] = gamma[j] / np.sqrt(np.float64(running_var[j]) + eps)
    for n in range(N):
        for j in range(D):
            out[n, j] = (x[n, j] - running_mean[j]) * scale[j] + beta[j]
    return out


@kernel
def batchnorm_backward(dout, xn, std, gamma, dx, dgamma, dbeta):
    """dout, xn: (N, D); std, gamma: (D,).  Writes dx (N, D), dgamma and dbeta (D,).
    dx may alias dout."""
    N, D = dout.shape
    sg = np.zeros(D)
    sb = np.zeros(D)
    for n in range(N):
        for j in range(D):
            sb[j] += dout[n, j]
            sg[j] += np.float64(xn[n, j]) * dout[n, j]
    coef = np.empty(D)
    mean_g = np.empty(D)
    for j in range(D):
        dbeta[j] = sb[j]
        dgamma[j] = sg[j]
        coef[j] = np.float64(gamma[j]) / np.float64(std[j])
        mean_g[j] = sg[j] / N
        sb[j] = 0.0                       # now the sum of dxc over the batch
    for n in range(N):
        for j in range(D):
            c = coef[j] * (dout[n, j] - xn[n, j] * mean_g[j])
            dx[n, j] = c
            sb[j] += c
    for j in range(D):
        sb[j] /= N
    for n in range(N):
        for j in range(D):
            dx[n, j] -= sb[j]
    return dx
