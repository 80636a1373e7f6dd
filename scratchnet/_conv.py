"""Speed helpers for Convolution and Pooling: columns a few samples at a time, col2im by strided adds.

The convolution's columns (each sample's window at each output position) are taken by one
strided copy per kernel offset, a few samples at a time (``CHUNK_BYTES``), and multiplied at once
while they are still in cache; the backward pass takes them again for dW rather than keeping the
batch's. The bias rides in the matmul (a row of ones below the columns). dx of a stride-1
convolution is the "full" convolution of dout, through the same kernel; other strides use
col2im's strided adds. The book's 2x2 max pool has its own path that remembers the winners.
docs/convolution.md has the reasoning and the measurements.

Nothing here checks its input: the public functions in ``scratchnet.util`` and the layers do.
"""

from __future__ import annotations

import numpy as np


def padded(x: np.ndarray, pad: int, buf: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """x with ``pad`` zeros around H and W, in ``buf`` when it fits (its border is kept zero).

    Returns (padded x, the buffer to pass next time); x itself when pad is 0.
    """
    if pad == 0:
        return x, buf
    n, c, h, w = x.shape
    shape = (n, c, h + 2 * pad, w + 2 * pad)
    if buf is None or buf.shape != shape or buf.dtype != x.dtype:
        buf = np.zeros(shape, dtype=x.dtype)
    buf[:, :, pad:pad + h, pad:pad + w] = x
    return buf, buf


def offset_view(xp: np.ndarray, i: int, j: int, stride: int, oh: int, ow: int) -> np.ndarray:
    """The (N, C, OH, OW) view of xp that kernel offset (i, j) meets at every output position."""
    return xp[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]


def im2col_t(xp: np.ndarray, fh: int, fw: int, stride: int, oh: int, ow: int,
             out: np.ndarray | None = None) -> np.ndarray:
    """Columns of the padded input xp (N, C, Hp, Wp): shape (N, C*FH*FW, OH*OW), xp's dtype.

    Row (c, i, j) of sample n holds xp[n, c, i + stride*y, j + stride*x] over the output positions
    (y, x): one strided copy per kernel offset.
    """
    n, c = xp.shape[:2]
    shape = (n, c * fh * fw, oh * ow)
    if out is None or out.shape != shape or out.dtype != xp.dtype:
        out = np.empty(shape, dtype=xp.dtype)
    cols = out.reshape(n, c, fh, fw, oh, ow)
    for i in range(fh):
        for j in range(fw):
            np.copyto(cols[:, :, i, j], offset_view(xp, i, j, stride, oh, ow))
    return out


def col2im_t(col: np.ndarray, xp_shape: tuple[int, ...], fh: int, fw: int, stride: int,
             out: np.ndarray | None = None) -> np.ndarray:
    """The adjoint of :func:`im2col_t`: add each column entry back where it was taken from.

    Returns the padded-shape (N, C, Hp, Wp) sum, in ``out`` when given (it is overwritten).
    """
    n, c, hp, wp = xp_shape
    oh, ow = (hp - fh) // stride + 1, (wp - fw) // stride + 1
    if out is None:
        out = np.empty(xp_shape, dtype=col.dtype)
    cols = col.reshape(n, c, fh, fw, oh, ow)
    # Windows that neither overlap nor leave gaps: every input pixel is written exactly once.
    tiles = stride == fh and stride == fw and hp == stride * oh and wp == stride * ow
    if not tiles:
        out.fill(0)
    for i in range(fh):
        for j in range(fw):
            dst = offset_view(out, i, j, stride, oh, ow)
            if tiles:
                np.copyto(dst, cols[:, :, i, j])
            else:
                dst += cols[:, :, i, j]
    return out


def unpadded(xp: np.ndarray, pad: int) -> np.ndarray:
    """The interior of a padded (N, C, Hp, Wp) array, as a view."""
    if pad == 0:
        return xp
    return xp[:, :, pad:xp.shape[2] - pad, pad:xp.shape[3] - pad]


def max_pool(xp: np.ndarray, ph: int, pw: int, stride: int, oh: int, ow: int, out: np.ndarray) -> np.ndarray:
    """Max over each window by pairwise np.maximum over the pool's offsets, into out (N, C, OH, OW).

    A reduction such as ``.max(axis=(3, 5))`` over a reshaped view runs a short inner loop per
    output element and is tens of times slower than these PH*PW whole-array maxima.
    """
    np.copyto(out, offset_view(xp, 0, 0, stride, oh, ow))
    for i in range(ph):
        for j in range(pw):
            if i or j:
                np.maximum(out, offset_view(xp, i, j, stride, oh, ow), out=out)
    return out


def max_pool_backward(xp: np.ndarray, m: np.ndarray, dout: np.ndarray, ph: int, pw: int, stride: int,
                      dxp: np.ndarray, hit: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """Route dout to the first maximum of each window (the textbook's argmax), into dxp (padded shape).

    ``hit`` and ``taken`` are bool scratch arrays of m's shape. Offsets are visited in the
    window's row-major order, so ties go to the first, as argmax does.
    """
    _, _, oh, ow = m.shape
    hp, wp = xp.shape[2:]
    tiles = stride == ph and stride == pw and hp == stride * oh and wp == stride * ow
    if not tiles:
        dxp.fill(0)
    taken.fill(False)
    for i in range(ph):
        for j in range(pw):
            v = offset_view(xp, i, j, stride, oh, ow)
            np.equal(v, m, out=hit)
            np.greater(hit, taken, out=hit)  # hit and not taken
            taken |= hit
            dst = offset_view(dxp, i, j, stride, oh, ow)
            if tiles:
                np.multiply(dout, hit, out=dst)
            else:
                dst += dout * hit
    return dxp


def scratch(bufs: dict, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The scratch array ``bufs[key]``, reallocated only when the shape or dtype changes."""
    buf = bufs.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = bufs[key] = np.empty(shape, dtype=dtype)
    return buf


#: Bytes of columns taken at a time. The batch's columns (45 MB for DeepConvNet's second
#: convolution) would be written to memory and read back; a few samples' columns stay in cache
#: between the copy and the matmul that reads them (docs/convolution.md has the measurements).
CHUNK_BYTES = 2 << 20


def _chunks(n: int, rows: int, itemsize: int):
    step = max(1, min(n, CHUNK_BYTES // max(rows * itemsize, 1)))
    return step, range(0, n, step)


def _span(xp: np.ndarray, stride: int, oh: int, ow: int, side_by_side: bool) -> tuple[int, int]:
    """(columns per sample, distance between output rows among them) of :func:`_columns`' layout.

    Long rows (stride 1, side by side) unless their extra columns, the matmul's extra work, pass
    15 % (DeepConvNet's 8x8 layers: 22 %, where they measured no faster).
    """
    wp = xp.shape[3]
    if side_by_side and stride == 1 and (oh - 1) * wp + ow <= 1.15 * oh * ow:
        return (oh - 1) * wp + ow, wp
    return oh * ow, ow


def _columns(xp: np.ndarray, fh: int, fw: int, stride: int, oh: int, ow: int, buf: np.ndarray,
             bias: bool, side_by_side: bool) -> np.ndarray:
    """The columns of the M samples of xp, in ``buf``'s memory, with a last row of ones if ``bias``.

    side_by_side: (C*FH*FW [+ 1], M*S), sample n's S columns side by side, so that one matmul
    covers the M samples. With stride 1 these are "long rows": S = (OH-1)*Wp + OW columns per
    sample, column y*Wp + x holding the window at output position (y, x) (for x < OW; the
    others, windows that wrap around the row's end, are computed and never read). Each kernel
    offset of each channel is then one contiguous run of xp, copied about twice as fast as
    OH runs of OW. Otherwise S = OH*OW. Not side by side: (M, C*FH*FW [+ 1], OH*OW), one matrix
    per sample, as :func:`im2col_t`.
    """
    m, c, hp, wp = xp.shape
    k = c * fh * fw
    span, row = _span(xp, stride, oh, ow, side_by_side)
    if side_by_side and row == wp != ow:  # long rows
        cols = buf[:(k + bias) * m * span].reshape(k + bias, m, span)
        flat = xp.reshape(m, c, hp * wp)
        windows = cols[:k].reshape(c, fh, fw, m, span)
        for i in range(fh):
            for j in range(fw):
                start = i * wp + j
                np.copyto(windows[:, i, j], flat[:, :, start:start + span].transpose(1, 0, 2))
        ones = cols[k:]
    elif side_by_side:
        cols = buf[:(k + bias) * m * span].reshape(k + bias, m, span)
        windows = cols[:k].reshape(c, fh, fw, m, oh, ow)
        for i in range(fh):
            for j in range(fw):
                np.copyto(windows[:, i, j], offset_view(xp, i, j, stride, oh, ow).transpose(1, 0, 2, 3))
        ones = cols[k:]
    else:
        cols = buf[:m * (k + bias) * span].reshape(m, k + bias, span)
        windows = cols[:, :k].reshape(m, c, fh, fw, oh, ow)
        for i in range(fh):
            for j in range(fw):
                np.copyto(windows[:, :, i, j], offset_view(xp, i, j, stride, oh, ow))
        ones = cols[:, k:]
    if bias:
        ones.fill(1)
    return cols.reshape(k + bias, m * span) if side_by_side else cols


def _positions(a: np.ndarray, m: int, oh: int, ow: int, span: int, row: int) -> np.ndarray:
    """The (R, M, OH, OW) view of an (R, M*span) C-contiguous array laid out as :func:`_columns`."""
    item = a.itemsize
    return np.lib.stride_tricks.as_strided(a, (a.shape[0], m, oh, ow), (m * span * item, span * item,
                                                                        row * item, item))


def _side_by_side(fn: int, k: int) -> bool:
    """Whether one matmul per chunk pays: its result needs a transposing copy (FN rows, not K).

    It is one BLAS call in place of one per sample (at 2 threads each call wakes and joins the
    second thread), and runs as fast at 1 thread when FN is small next to K (DeepConvNet). With
    SimpleConvNet's 30 filters over 25 pixels, the copy would outweigh the columns'.
    """
    return 4 * fn <= k


def conv_gemm(xp: np.ndarray, W2: np.ndarray, fh: int, fw: int, stride: int, oh: int, ow: int,
              out: np.ndarray | None, bufs: dict, b: np.ndarray | None = None, key: str = "col",
              sink=None) -> np.ndarray | None:
    """out[n] = W2 @ im2col(xp[n]) (+ b per row) for every sample n, a few samples at a time.

    xp (N, C, Hp, Wp) padded input; W2 (FN, C*FH*FW); b (FN,) or None; out (N, FN, OH*OW),
    C-contiguous. The bias rides in the matmul as one more column of W2 against a row of ones
    below the columns, instead of a pass over the output.

    With ``sink`` (and ``out`` None), ``sink(s, M, chunk)`` gets each chunk of samples s..s+M
    instead, while it is still in cache: the same numbers, as an (M, FN, OH, OW) array that may
    be a strided view, never written out for the whole batch (see :mod:`scratchnet._conv_block`).
    """
    n, k = xp.shape[0], W2.shape[1]
    fn, bias = W2.shape[0], b is not None
    wide = _side_by_side(fn, k)
    span, row = _span(xp, stride, oh, ow, wide)
    step, starts = _chunks(n, (k + bias) * span, xp.dtype.itemsize)
    buf = scratch(bufs, key, ((k + bias) * step * span,), xp.dtype)
    res = scratch(bufs, key + "_out", (fn * step * span,), xp.dtype) if wide else None
    if bias:
        W2 = np.concatenate([W2, b[:, None]], axis=1)
    chunk = None if sink is None or wide else scratch(bufs, key + "_chunk", (step, fn, oh * ow), xp.dtype)
    for s in starts:
        m = min(step, n - s)
        cols = _columns(xp[s:s + m], fh, fw, stride, oh, ow, buf, bias, wide)
        if wide:
            r = np.matmul(W2, cols, out=res[:fn * m * span].reshape(fn, m * span))
            y = _positions(r, m, oh, ow, span, row).transpose(1, 0, 2, 3)
            if sink is None:
                np.copyto(out[s:s + m].reshape(m, fn, oh, ow), y)
            else:
                sink(s, m, y)  # the sink reads the positions in place: no transposing copy
        else:
            dst = out[s:s + m] if sink is None else chunk[:m]
            np.matmul(W2, cols, out=dst)
            if sink is not None:
                sink(s, m, dst.reshape(m, fn, oh, ow))
    return out


def conv_weight_grad(xp: np.ndarray, dout: np.ndarray, fh: int, fw: int, stride: int, oh: int, ow: int,
                     dW: np.ndarray, db: np.ndarray, bufs: dict) -> None:
    """dW (FN, C*FH*FW) = the sum over samples of dout[n] @ im2col(xp[n]).T, and db (FN,).

    dout (N, FN, OH*OW), C-contiguous. The columns are taken again, a few samples at a time:
    that costs less than keeping the batch's from the forward pass, which would be read back
    from memory. The products are computed transposed, cols @ dout.T (K + 1, FN): with the long
    axis summed inside the matmul, OpenBLAS runs that form about 1.5x faster. The row of ones
    below the columns (see :func:`conv_gemm`) gives db. Side by side, dout is laid out as the
    columns, zero where a long row's column is no output position.
    """
    n, k, fn = xp.shape[0], dW.shape[1], dW.shape[0]
    wide = _side_by_side(fn, k)
    span, row = _span(xp, stride, oh, ow, wide)
    step, starts = _chunks(n, (k + 1) * span, xp.dtype.itemsize)
    buf = scratch(bufs, "col", ((k + 1) * step * span,), xp.dtype)
    parts = scratch(bufs, "dw_parts", (len(starts) if wide else n, k + 1, fn), xp.dtype)
    for c, s in enumerate(starts):
        m = min(step, n - s)
        cols = _columns(xp[s:s + m], fh, fw, stride, oh, ow, buf, True, wide)
        if wide:
            # Zeroed once per layout: the positions written are then always the same ones.
            key, layout = ("col_dout" if m == step else "col_dout_last"), (fn, m, oh, ow, span, row, xp.dtype)
            d = bufs.get(key)
            if d is None or bufs.get(key + "_layout") != layout:
                d = bufs[key] = np.zeros((fn, m * span), dtype=xp.dtype)
                bufs[key + "_layout"] = layout
            np.copyto(_positions(d, m, oh, ow, span, row),
                      dout[s:s + m].reshape(m, fn, oh, ow).transpose(1, 0, 2, 3))
            np.matmul(cols, d.T, out=parts[c])
        else:
            np.matmul(cols, dout[s:s + m].transpose(0, 2, 1), out=parts[s:s + m])
    total = np.add.reduce(parts, axis=0)
    np.copyto(dW, total[:k].T)
    np.copyto(db, total[k])


def max_pool_2x2(x: np.ndarray, out: np.ndarray, bufs: dict) -> np.ndarray:
    """Max over the 2x2 windows with stride 2 that tile x (N, C, 2*OH, 2*OW), into out (N, C, OH, OW).

    Each window's winner goes to ``bufs`` for :func:`max_pool_2x2_backward` (see :func:`pool_2x2_into`).
    """
    return pool_2x2_into(x, out, scratch(bufs, "pool_win", out.shape, np.dtype(np.intp)), bufs)


def pool_2x2_into(x: np.ndarray, out: np.ndarray, win: np.ndarray, bufs: dict, first: int = 0) -> np.ndarray:
    """:func:`max_pool_2x2`, with each window's winner written to ``win`` (N, C, OH, OW), intp.

    ``win`` holds flat indices into the C-contiguous batch that x is a part of, x[0] being its
    sample ``first`` (x may be a chunk of the batch). The four corners of the windows
    are first copied apart, each (N, C, OH, OW) and contiguous (np.maximum over stride-2 views
    runs about 10x slower than over contiguous arrays). Then come the maximum of the two columns
    in each row, and of the two rows. A strict ``>`` sends ties to the left and to the top, and
    taking the columns first makes that the window's first maximum in row-major order, the
    textbook's argmax. ``bufs`` holds the scratch arrays, kept at the largest N seen so that
    chunks of a batch reuse them.
    """
    n, c, h, w = x.shape
    corners, rows, right, lower, offset = _pool_scratch(bufs, n, (c, h // 2, w // 2), x.dtype)
    for k in range(4):
        np.copyto(corners[k], x[:, :, k // 2::2, k % 2::2])
    for r in (0, 1):
        np.maximum(corners[2 * r], corners[2 * r + 1], out=rows[r])
        np.greater(corners[2 * r + 1], corners[2 * r], out=right[r])
    np.maximum(rows[0], rows[1], out=out)
    np.greater(rows[1], rows[0], out=lower)
    # The winner's place: its window's top-left corner, one row down if lower, one column right
    # if it is the right one of its row.
    column = right[0]  # of the winner, right[1] where lower (np.where runs 10x slower on such masks)
    np.bitwise_xor(right[0], right[1], out=right[1])
    right[1] &= lower
    column ^= right[1]
    corner = _window_corners(bufs, (first + n, c, h, w))[first:]
    if w < 255:  # the offset in its window fits a byte: add it to the corner's index in one mixed pass
        np.multiply(lower.view(np.uint8), w, out=offset)
        offset += column.view(np.uint8)
        np.add(corner, offset, out=win)
    else:
        np.multiply(lower, w, out=win)
        win += column
        win += corner
    return out


def _pool_scratch(bufs: dict, n: int, shape: tuple[int, ...], dtype: np.dtype):
    """corners (4, N, ...), rows (2, N, ...) of ``dtype``; right (2, N, ...), lower (N, ...) bool;
    offset (N, ...) uint8."""
    big, flags = bufs.get("pool_values"), bufs.get("pool_flags")
    if big is None or big.shape[1] < n or big.shape[2:] != shape or big.dtype != dtype:
        big = bufs["pool_values"] = np.empty((6, n, *shape), dtype=dtype)
        flags = bufs["pool_flags"] = np.empty((4, n, *shape), dtype=bool)
    return big[:4, :n], big[4:, :n], flags[:2, :n], flags[2, :n], flags[3, :n].view(np.uint8)


def _window_corners(bufs: dict, shape: tuple[int, int, int, int]) -> np.ndarray:
    """The flat index of each 2x2 window's top-left element in a C-contiguous array of ``shape``."""
    n, c, h, w = shape
    index = bufs.get("pool_corner_index")
    if index is None or index.shape[0] < n or index.shape[1:] != (c, h // 2, w // 2):
        planes = np.arange(n * c, dtype=np.intp).reshape(n, c, 1, 1) * (h * w)
        index = bufs["pool_corner_index"] = planes + (np.arange(0, h, 2)[:, None] * w + np.arange(0, w, 2))
    return index[:n]  # the first n samples' indices are the same in a larger array


def max_pool_2x2_backward(dout: np.ndarray, dx: np.ndarray, bufs: dict) -> np.ndarray:
    """The gradient of :func:`max_pool_2x2` (its last call, through ``bufs``) into dx, C-contiguous."""
    return pool_2x2_scatter(dout, dx, bufs["pool_win"])


def pool_2x2_scatter(dout: np.ndarray, dx: np.ndarray, win: np.ndarray) -> np.ndarray:
    """dout (N, C, OH, OW) put at the winners ``win`` that :func:`pool_2x2_into` wrote, into dx
    (N, C, 2*OH, 2*OW), C-contiguous, and zero elsewhere: a fill and one indexed assignment,
    where any form over the stride-2 positions runs as thousands of 12-element loops."""
    dx.fill(0)
    dx.reshape(-1)[win.reshape(-1)] = dout.reshape(-1)
    return dx


def input_grad_stride1(dout: np.ndarray, W: np.ndarray, pad: int, out: np.ndarray,
                       bufs: dict) -> np.ndarray:
    """dx of a stride-1 convolution with pad < FH and pad < FW, as a "full" convolution of dout.

    dx[n, c, y, x] = sum over f, i, j of dout[n, f, y + pad - i, x + pad - j] * W[f, c, i, j]:
    the convolution of dout, zero-padded by FH-1-pad and FW-1-pad, with the filters flipped and
    their two channel axes swapped. One im2col copy and one matmul with an (N, C, H*W) result
    replace col2im's matmul with an (N, C*FH*FW, OH*OW) result and its FH*FW strided adds.
    ``bufs`` holds this layer's scratch arrays between calls. ``out`` is (N, C, H, W), C-contiguous.
    """
    n, fn, oh, ow = dout.shape
    _, c, fh, fw = W.shape
    ph, pw = fh - 1 - pad, fw - 1 - pad
    shape = (n, fn, oh + 2 * ph, ow + 2 * pw)
    dp = bufs.get("dout_padded")
    if dp is None or dp.shape != shape or dp.dtype != dout.dtype:
        dp = bufs["dout_padded"] = np.zeros(shape, dtype=dout.dtype)
    dp[:, :, ph:ph + oh, pw:pw + ow] = dout
    h, w = out.shape[2:]
    flipped = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(c, fn * fh * fw)
    conv_gemm(dp, flipped, fh, fw, 1, h, w, out.reshape(n, c, h * w), bufs, key="dx_col")
    return out
