"""A whole training step of a fully connected network in plain NumPy (the book's ch. 6
MultiLayerNet and optimizers), over a flat parameter buffer laid out as kernels.graph lays it."""
import numpy as np

from . import reference as R


def unflatten(theta, sizes):
    """[(W, b), ...] views of theta for widths ``sizes`` (kernels.graph layout)."""
    out, p = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = theta[p:p + n_in * n_out].reshape(n_in, n_out)
        p += n_in * n_out
        out.append((W, theta[p:p + n_out]))
        p += n_out
    return out


def loss_and_gradient(theta, sizes, activation, x, t, lam=0.0):
    """(loss with 0.5 * lam * sum W^2, flat gradient with dW += lam * W), by backprop."""
    layers = unflatten(theta, sizes)
    act, act_grad = (R.relu, R.relu_grad) if activation == "relu" else (R.sigmoid, R.sigmoid_grad)
    ins, outs, h = [], [], x
    for i, (W, b) in enumerate(layers):
        ins.append(h)
        a = R.affine_forward(h, W, b)
        if i < len(layers) - 1:
            h = act(a)
            outs.append((a, h))
        else:
            h = a
    loss, _, dout = R.softmax_with_loss(h, t)
    loss += sum(0.5 * lam * np.sum(W ** 2) for W, _ in layers)
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        W, b = layers[i]
        dx, dW, db = R.affine_backward(ins[i], W, dout)
        grads.append((dW + lam * W, db))
        if i:
            a, y = outs[i - 1]
            dout = act_grad(dx, a) if activation == "relu" else act_grad(dx, y)
    grads.reverse()
    return loss, np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in grads])


def update(name, hp, t, theta, g, s1, s2):
    """The book's update of theta (in place) by optimizer ``name``; hp = (lr, a, b, eps);
    t the 1-based step number."""
    lr, a, b, eps = hp
    if name == "sgd":
        theta -= lr * g
    elif name == "momentum":
        s1[:] = a * s1 - lr * g
        theta += s1
    elif name == "nesterov":
        s1 *= a
        s1 -= lr * g
        theta += a * a * s1
        theta -= (1 + a) * lr * g
    elif name == "adagrad":
        s1 += g * g
        theta -= lr * g / (np.sqrt(s1) + eps)
    elif name == "rmsprop":
        s1 *= a
        s1 += (1 - a) * g * g
        theta -= lr * g / (np.sqrt(s1) + eps)
    elif name == "adam":
        lr_t = lr * np.sqrt(1.0 - b ** t) / (1.0 - a ** t)
        s1 += (1 - a) * (g - s1)
        s2 += (1 - b) * (g ** 2 - s2)
        theta -= lr_t * s1 / (np.sqrt(s2) + eps)
    else:
        raise ValueError(name)


#: Hyper-parameters (lr, a, b, eps) per optimizer, the book's defaults but larger steps.
HYPER = {"sgd": (0.1, 0.0, 0.0, 0.0), "momentum": (0.05, 0.9, 0.0, 0.0),
         "nesterov": (0.05, 0.9, 0.0, 0.0), "adagrad": (0.05, 0.0, 0.0, 1e-7),
         "rmsprop": (0.01, 0.99, 0.0, 1e-7), "adam": (0.01, 0.9, 0.999, 1e-8)}
