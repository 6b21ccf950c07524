"""A sparse row times a dense matrix: ``out += x @ W`` over the non-zeros of x only.

The first Affine of a fused step reads each sample's non-zero pixels from the
CSR (:mod:`kernels.sparse`) and adds ``x[d] * W[d]`` for each of them.  Written
as numba loops, the sum goes through memory: every row of W added loads and
stores ``out`` again, and LLVM checks at run time that ``out`` overlaps none of
the rows it reads before each pass.  :func:`sparse_rows_block` keeps up to
MAX_VECTORS vectors of ``out`` (64 bytes each: 16 float32 or 8 float64) in
registers for the whole sum and writes them once; :func:`sparse_row` splits a
row of any width into such blocks.  Each column is summed in the order of the
non-zeros, so the result does not depend on the machine's thread count.
"""
import numba
import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

from ._config import kernel

#: Bytes per vector: one AVX-512 register (two AVX2 registers elsewhere).
VECTOR_BYTES = 64


def _has_avx512():
    """True when numba compiles for this machine and it has AVX-512F."""
    if numba.config.CPU_NAME is not None or numba.config.CPU_FEATURES is not None:
        return False
    try:
        return bool(llvm_binding.get_host_cpu_features().get("avx512f", False))
    except RuntimeError:          # llvmlite cannot tell on this platform
        return False


#: Vectors of out held in registers per pass: 8 of AVX-512's 32 registers (128 float32
#: columns), 4 elsewhere (8 of AVX2's 16).
MAX_VECTORS = 8 if _has_avx512() else 4


def _splat(builder, value, n):
    """<n x T> with every lane ``value``."""
    vty = ir.VectorType(value.type, n)
    i32 = ir.IntType(32)
    one = builder.insert_element(ir.Constant(vty, ir.Undefined), value, ir.Constant(i32, 0))
    return builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined), ir.Constant(ir.VectorType(i32, n), [0] * n))


def _check_types(fname, contiguous, values, indices):
    """Typing-time checks shared by the intrinsics: the named arrays C-contiguous and of
    values' float dtype, indices of an integer type."""
    for name, arr in contiguous:
        if not isinstance(arr, types.Array) or arr.layout != "C":
            raise TypingError(f"{fname}: {name} must be a C-contiguous array, got {arr}")
    if not (isinstance(values.dtype, types.Float) and all(a.dtype == values.dtype for _, a in contiguous)):
        names = ", ".join(["values"] + [n for n, _ in contiguous])
        raise TypingError(f"{fname}: {names} need one float dtype, got "
                          f"{', '.join(str(a.dtype) for a in [values] + [a for _, a in contiguous])}")
    if not isinstance(indices.dtype, types.Integer):
        raise TypingError(f"{fname}: indices must be integers, got {indices.dtype}")


class _Vectors:
    """What both intrinsics emit with: 64-byte vectors of one float dtype (L lanes), their
    pointer type, masks, the masked load and store and the fused multiply-add intrinsics,
    int64 constants and element pointers cast to vector pointers."""

    def __init__(self, context, builder, dtype):
        self.builder = builder
        self.size = dtype.bitwidth // 8
        self.L = L = VECTOR_BYTES // self.size
        self.vec = ir.VectorType(context.get_value_type(dtype), L)
        self.vptr = self.vec.as_pointer()
        self.i64, i32 = ir.IntType(64), ir.IntType(32)
        mask = ir.VectorType(ir.IntType(1), L)
        name = f"v{L}f{self.size * 8}"
        module = builder.module
        self.mload = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vec, [self.vptr, i32, mask, self.vec]), f"llvm.masked.load.{name}.p0")
        self.mstore = cgutils.get_or_insert_function(
            module, ir.FunctionType(ir.VoidType(), [self.vec, self.vptr, i32, mask]), f"llvm.masked.store.{name}.p0")
        self.fma = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vec, [self.vec] * 3), f"llvm.fma.{name}")
        self.align = ir.Constant(i32, self.size)
        self.zero = ir.Constant(self.vec, [0.0] * L)
        self.iota = ir.Constant(ir.VectorType(self.i64, L), list(range(L)))

    def const(self, v):
        return ir.Constant(self.i64, v)

    def ptr(self, data, offset):
        """data + offset elements, as a vector pointer."""
        return self.builder.bitcast(self.builder.gep(data, [offset]), self.vptr)

    def lanes_below(self, n):
        """Mask of the lanes i < n (n: int64)."""
        return self.builder.icmp_signed("<", self.iota, _splat(self.builder, n, self.L))

    def row_stride(self, arr):
        """An (R, H) array's row stride in elements."""
        return self.builder.sdiv(cgutils.unpack_tuple(self.builder, arr.strides, 2)[0], self.const(self.size))

    def index(self, data, at, signed):
        """data[at] as int64."""
        d = self.builder.load(self.builder.gep(data, [at]))
        if d.type.width < 64:
            d = self.builder.sext(d, self.i64) if signed else self.builder.zext(d, self.i64)
        return d


@intrinsic
def sparse_rows_block(typingctx, p0, p1, indices, values, W, c, n, out):
    """``out[c:c + n] += sum(values[p] * W[indices[p], c:c + n] for p in range(p0, p1))``.

    n: 1 .. MAX_VECTORS * L columns (L = 64 bytes of lanes); W: (D, H) C-contiguous,
    values, W and out of one float dtype; indices: any integer type.  Nothing is
    checked.  Each of the ceil(n / L) vectors of columns is one register summed by a
    fused multiply-add per non-zero, in order; the last one loads and stores only its
    lanes below n.  A switch on the number of vectors picks a loop compiled for it."""
    _check_types("sparse_rows_block", (("W", W), ("out", out)), values, indices)
    sig = types.void(types.int64, types.int64, indices, values, W, types.int64, types.int64, out)

    def codegen(context, builder, signature, args):
        p0v, p1v, ia, va, wa, cv, nv, oa = args
        ity, vty, wty, oty = signature.args[2], signature.args[3], signature.args[4], signature.args[7]
        iarr = context.make_array(ity)(context, builder, ia)
        varr = context.make_array(vty)(context, builder, va)
        warr = context.make_array(wty)(context, builder, wa)
        oarr = context.make_array(oty)(context, builder, oa)
        V = _Vectors(context, builder, vty.dtype)
        L, size, const, ptr, zero = V.L, V.size, V.const, V.ptr, V.zero
        # row stride of W in elements; vectors; lanes of the last vector
        stride = V.row_stride(warr)
        nvec = builder.sdiv(builder.add(nv, const(L - 1)), const(L))
        mask = V.lanes_below(builder.sub(nv, builder.mul(builder.sub(nvec, const(1)), const(L))))

        fn = builder.function
        done = fn.append_basic_block("spb.done")
        pick = fn.append_basic_block("spb.pick")
        builder.cbranch(builder.icmp_signed("<", p0v, p1v), pick, done)
        builder.position_at_end(pick)
        switch = builder.switch(nvec, done)
        for k in range(1, MAX_VECTORS + 1):
            enter = fn.append_basic_block(f"spb.enter{k}")
            loop = fn.append_basic_block(f"spb.loop{k}")
            store = fn.append_basic_block(f"spb.store{k}")
            switch.add_case(const(k), enter)
            builder.position_at_end(enter)
            builder.branch(loop)

            builder.position_at_end(loop)
            p = builder.phi(V.i64)
            p.add_incoming(p0v, enter)
            acc = []
            for _ in range(k):
                a = builder.phi(V.vec)
                a.add_incoming(zero, enter)
                acc.append(a)
            d = V.index(iarr.data, p, ity.dtype.signed)
            x = _splat(builder, builder.load(builder.gep(varr.data, [p])), L)
            row = builder.add(builder.mul(d, stride), cv)
            summed = []
            for i in range(k):
                at = ptr(warr.data, builder.add(row, const(i * L)))
                w = builder.load(at, align=size) if i < k - 1 else builder.call(V.mload, [at, V.align, mask, zero])
                summed.append(builder.call(V.fma, [x, w, acc[i]]))
            nxt = builder.add(p, const(1))
            p.add_incoming(nxt, loop)
            for a, s in zip(acc, summed):
                a.add_incoming(s, loop)
            builder.cbranch(builder.icmp_signed("<", nxt, p1v), loop, store)

            builder.position_at_end(store)
            for i in range(k):
                at = ptr(oarr.data, builder.add(cv, const(i * L)))
                if i < k - 1:
                    builder.store(builder.fadd(builder.load(at, align=size), summed[i]), at, align=size)
                else:
                    old = builder.call(V.mload, [at, V.align, mask, zero])
                    builder.call(V.mstore, [builder.fadd(old, summed[i]), at, V.align, mask])
            builder.branch(done)
        builder.position_at_end(done)
        return context.get_dummy_value()
    return sig, codegen


@kernel
def sparse_row(p0, p1, indices, values, W, out):
    """out += x @ W for one sample whose non-zeros are at p0..p1-1 of the CSR.

    W: (D, H) C-contiguous; out: (H,).  The H columns go in passes of at most
    MAX_VECTORS vectors, as even as whole vectors allow (100 float32 columns: one pass
    of 7 vectors; 300: three of 7, 6 and 6), each pass over the non-zeros once.  On
    MNIST, 784x100 float32, 100 samples: 63 us against 95 us for the numba loop adding
    eight rows of W a pass."""
    H = out.size
    L = VECTOR_BYTES // W.itemsize
    vectors = (H + L - 1) // L
    passes = (vectors + MAX_VECTORS - 1) // MAX_VECTORS
    c = 0
    for q in range(passes):
        n = min(L * ((vectors * (q + 1)) // passes - (vectors * q) // passes), H - c)
        sparse_rows_block(p0, p1, indices, values, W, c, n, out)
        c += n


@intrinsic
def scatter_rows_block(typingctx, q0, q1, indices, values, g, M, r0, c, n):
    """``M[indices[q] - r0, c:c + n] += values[q] * g[c:c + n]`` for q in q0..q1-1, where
    g's entries from index ``g.size`` on count as 0.

    n: 1 .. MAX_VECTORS * L columns, a whole number of vectors (M's rows padded to one);
    M: (R, Hp) C-contiguous.  The ceil(n / L) vectors of g stay in registers; each row of
    M gets whole vectors loaded, added to (one FMA) and stored, so rows that start on a
    64-byte boundary never split a vector across cache lines.  Nothing is checked."""
    _check_types("scatter_rows_block", (("g", g), ("M", M)), values, indices)
    sig = types.void(types.int64, types.int64, indices, values, g, M, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        q0v, q1v, ia, va, ga, ma, r0v, cv, nv = args
        ity, vty, gty, mty = signature.args[2], signature.args[3], signature.args[4], signature.args[5]
        iarr = context.make_array(ity)(context, builder, ia)
        varr = context.make_array(vty)(context, builder, va)
        garr = context.make_array(gty)(context, builder, ga)
        marr = context.make_array(mty)(context, builder, ma)
        V = _Vectors(context, builder, vty.dtype)
        L, size, const, ptr = V.L, V.size, V.const, V.ptr
        stride = V.row_stride(marr)
        gsize = cgutils.unpack_tuple(builder, garr.shape, 1)[0]
        nvec = builder.sdiv(builder.add(nv, const(L - 1)), const(L))
        fn = builder.function
        done = fn.append_basic_block("srb.done")
        pick = fn.append_basic_block("srb.pick")
        builder.cbranch(builder.icmp_signed("<", q0v, q1v), pick, done)
        builder.position_at_end(pick)
        switch = builder.switch(nvec, done)
        for k in range(1, MAX_VECTORS + 1):
            enter = fn.append_basic_block(f"srb.enter{k}")
            loop = fn.append_basic_block(f"srb.loop{k}")
            switch.add_case(const(k), enter)
            builder.position_at_end(enter)
            gv = []
            for i in range(k):
                first = builder.add(cv, const(i * L))
                # lanes of g that exist: first + lane < g.size
                valid = V.lanes_below(builder.sub(gsize, first))
                gv.append(builder.call(V.mload, [ptr(garr.data, first), V.align, valid, V.zero]))
            builder.branch(loop)

            builder.position_at_end(loop)
            q = builder.phi(V.i64)
            q.add_incoming(q0v, enter)
            d = V.index(iarr.data, q, ity.dtype.signed)
            x = _splat(builder, builder.load(builder.gep(varr.data, [q])), L)
            row = builder.add(builder.mul(builder.sub(d, r0v), stride), cv)
            for i in range(k):
                at = ptr(marr.data, builder.add(row, const(i * L)))
                builder.store(builder.call(V.fma, [x, gv[i], builder.load(at, align=size)]), at, align=size)
            nxt = builder.add(q, const(1))
            q.add_incoming(nxt, loop)
            builder.cbranch(builder.icmp_signed("<", nxt, q1v), loop, done)
        builder.position_at_end(done)
        return context.get_dummy_value()
    return sig, codegen


@kernel
def scatter_row(q0, q1, indices, values, g, M, r0):
    """M[d - r0] += x[d] * g for the non-zeros x[d] of one sample at q0..q1-1 of the CSR.

    g: (H,); M: (R, Hp) C-contiguous with Hp >= H a whole number of vectors (64 bytes);
    columns H..Hp-1 of M are padding (they get 0 added).  In passes of at most MAX_VECTORS
    vectors, as :func:`sparse_row`."""
    Hp = M.shape[1]
    L = VECTOR_BYTES // M.itemsize
    vectors = Hp // L
    passes = (vectors + MAX_VECTORS - 1) // MAX_VECTORS
    c = 0
    for q in range(passes):
        n = L * ((vectors * (q + 1)) // passes - (vectors * q) // passes)
        scatter_rows_block(q0, q1, indices, values, g, M, r0, c, n)
        c += n


@kernel
def padded_width(H, itemsize):
    """H rounded up to a whole number of 64-byte vectors of itemsize-byte elements."""
    L = VECTOR_BYTES // itemsize
    return (H + L - 1) // L * L


#: Plain SGD updates W in place, sample by sample, on a batch with fewer than this many
#: non-zeros per row of W (see :func:`few_nonzeros`).
IN_PLACE_ROWS = 4


@kernel
def few_nonzeros(nnz, rows):
    """True for a batch of nnz non-zeros over a W of ``rows`` rows with fewer than
    IN_PLACE_ROWS non-zeros per row (MNIST: about 150 a sample, 784 rows): there the passes
    over every padded row cost more than the aligned sums save (784-50-10 float32, one
    thread: batch 1 2.6 us a step in place against 5 us through the padded gradient, batch
    100 the other way round).  A function of the whole batch, so that the serial and
    parallel kernels take the same way."""
    return nnz < IN_PLACE_ROWS * rows


def padded_rows(R, H, dtype):
    """(R, Hp) zeros whose rows start on 64-byte boundaries, Hp = :func:`padded_width`
    (the layout :func:`scatter_row` is fast on)."""
    size = np.dtype(dtype).itemsize
    L = VECTOR_BYTES // size
    Hp = padded_width(H, size)
    raw = np.zeros(R * Hp + L, dtype)
    skip = (-raw.ctypes.data % VECTOR_BYTES) // size
    return raw[skip:skip + R * Hp].reshape(R, Hp)
