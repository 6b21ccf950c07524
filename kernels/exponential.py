"""exp(x) that LLVM can vectorise inside a kernel's loop, for sigmoid and softmax.

numba lowers ``np.exp`` to a call of the C library's ``exp``/``expf``: one scalar call
per element, and a loop holding a call is never vectorised.  :func:`exp` is written out
in arithmetic instead, so a loop such as ``out[i] = 1 / (1 + exp(-x[i]))`` compiles to
16 float32 lanes per instruction (zmm) on AVX-512 machines.

float32, in three steps (all in float32 arithmetic):

1. Range reduction (Cody and Waite): n = rint(x / ln 2) and r = x - n ln 2, so that
   exp(x) = 2**n exp(r) with |r| <= ln(2)/2 (plus rounding).  ln 2 is split as
   LN2_HI + LN2_LO, LN2_HI holding 16 significant bits: n * LN2_HI is then exact for
   |n| <= 255 and so is x - n * LN2_HI (the two are within a factor 2 of each other);
   the small n * LN2_LO is subtracted afterwards.
2. exp(r) = 1 + r + r**2 q(r), q a polynomial of degree 4 (so exp(r) to degree 6),
   fitted to (exp(r) - 1 - r) / r**2 at Chebyshev nodes of [-0.354, 0.354]; relative
   error of the polynomial 1.2e-8, a fifth of a float32 ulp.  (Degree 5 would be
   4.7e-7, several ulp.)
3. Scaling by 2**n built from exponent bits, as 2**n1 * 2**n2 with n1 = n >> 1,
   n2 = n - n1: both are normal numbers for every n the clamp lets through
   (-150..128), so the first product is exact and the second rounds once, also into
   the subnormal range and into overflow.

Special values: x is clamped to [-104, 89] first.  Above ln(FLT_MAX) = 88.72 the
scaling overflows to inf (so does x = inf); below about -87.34 the result is
subnormal, rounded once (subnormals are kept, not flushed); below -103.97 it is 0
(so is x = -inf); NaN gives NaN.  Measured against float64 ``np.exp`` rounded to
float32: at most 1 ulp over [-104, 89] (tests/test_exponential.py).

numba's cache keys a kernel on its own source file: after editing this module, delete the
``__pycache__`` of ``kernels/`` so that the kernels that inline :func:`exp` are compiled again.

float64 keeps ``np.exp``, the C library's exp (measured within 0.69 ulp of a long-double
reference): see :func:`exp` for why.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ._config import kernel

#: 1 / ln 2, rounded to float32.
LOG2E = np.float32(1.4426950408889634)
#: ln 2 = LN2_HI + LN2_LO; LN2_HI = 45426 / 2**16 holds 16 significant bits.
LN2_HI = np.float32(45426.0 / 65536.0)
LN2_LO = np.float32(0.6931471805599453 - 45426.0 / 65536.0)
#: q(r) = Q0 + Q1 r + Q2 r**2 + Q3 r**3 + Q4 r**4 ~ (exp(r) - 1 - r) / r**2 on |r| <= 0.354:
#: ``numpy.polynomial.Chebyshev.fit`` at 200 Chebyshev nodes of that interval (long-double
#: values of the function), converted to powers of r and rounded to float32.  Q0 = 1/2 and
#: Q1 ~ 1/6, Q2 ~ 1/24, ... are the Taylor coefficients 1/k!, bent to spread the error.
Q0 = np.float32(0.5)
Q1 = np.float32(0.1666657030582428)
Q2 = np.float32(0.04166644811630249)
Q3 = np.float32(0.00836438313126564)
Q4 = np.float32(0.0013935454189777374)
#: The clamp: exp(89) overflows float32, exp(-104) rounds to 0.
X_MAX = np.float32(89.0)
X_MIN = np.float32(-104.0)


@intrinsic
def float32_from_bits(typingctx, bits):
    """The float32 whose IEEE bit pattern is the low 32 bits of the integer ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        v = args[0]
        if bits.bitwidth > 32:
            v = builder.trunc(v, i32)
        elif bits.bitwidth < 32:
            v = builder.sext(v, i32) if bits.signed else builder.zext(v, i32)
        return builder.bitcast(v, ir.FloatType())
    return types.float32(bits), codegen


@kernel(fastmath=frozenset({"contract"}))
def exp_float32(x):
    """exp(x) of a float32 x, within 1 ulp; inf, 0, subnormals and NaN as described above.

    Only ``contract`` (fused multiply-add) of the fast-math flags: reassociation would
    undo the split of ln 2."""
    xc = x if x < X_MAX else X_MAX          # NaN goes to X_MAX here, and back to NaN below
    xc = xc if xc > X_MIN else X_MIN
    n = np.rint(xc * LOG2E)
    r = xc - n * LN2_HI
    r = r - n * LN2_LO
    q = Q0 + r * (Q1 + r * (Q2 + r * (Q3 + r * Q4)))
    p = np.float32(1.0) + (r + (r * r) * q)
    k = np.int32(n)
    k1 = k >> 1
    k2 = k - k1
    s1 = float32_from_bits((k1 + 127) << 23)
    s2 = float32_from_bits((k2 + 127) << 23)
    y = (p * s1) * s2
    return y if x == x else x


def exp(x):
    """exp(x) of a float scalar, for use inside kernels: float32 by :func:`exp_float32`,
    float64 by ``np.exp`` (chosen at compile time from the argument's type).

    float64 keeps the C library's exp.  A degree-12 float64 version of the same scheme made
    the sigmoid of 5000 float64 values 3-4x faster (5.5-9.6 us against 22-45 us, busy
    machine), but it was 2.4 ulp off where the C library is within 0.69 ulp, and float64
    is where fastnn checks gradients and reproduces the book's figures: every float64
    result would change for a speed the float32 path already has.  Outside a kernel
    (or with NUMBA_DISABLE_JIT=1) this is ``np.exp``."""
    return np.exp(x)


@overload(exp)
def _exp_overload(x):
    if x == types.float32:
        return lambda x: exp_float32(x)
    if isinstance(x, types.Float):
        return lambda x: np.exp(x)
    return None
