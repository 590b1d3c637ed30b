/* DoRA's per-token hook as backend ops (PEFT 0.21 DoraLinearLayer.forward,
 * eval mode, dropout an identity):
 *   y += (f - 1) * (base_y - b) + f * s * B (A x)
 * done as  t = base_y * (f - 1);  y += t;  y += -(f - 1) * b;  y += (A x) (f s B)^T
 * with f s B folded into the B weight at load. */
#include "dora.h"
#include "peft_util.h"

hive_status dora_apply(peft_lora *a, uint32_t layer, uint32_t module, const hive_tensor *x,
                       const hive_tensor *base_y, const hive_tensor *y, hive_error **err) {
    peft_lora_module *m;
    hive_status st = peft_lora_for_call(a, layer, module, x, y, &m, err);
    if (st != HIVE_OK || x->rows == 0) return st;
    if (!base_y || base_y->rows != y->rows || base_y->cols != y->cols)
        return peft_fail(a->host, err, HIVE_E_SHAPE, "%s: DoRA hook needs base_y shaped like y", m->path);
    const hive_backend_api *be = a->be;
    hive_tensor t = {sizeof t, HIVE_DTYPE_F32, a->scratch_y, 0, y->rows, y->cols, y->cols};
    if ((st = be->op_binary_weight(a->dev, HIVE_BINARY_MUL, base_y, m->f_minus1, &t, err)) ||
        (st = be->op_binary(a->dev, HIVE_BINARY_ADD, y, &t, y, err)))
        return st;
    if (m->bias_fix && (st = be->op_binary_weight(a->dev, HIVE_BINARY_ADD, y, m->bias_fix, y, err))) return st;
    return peft_lowrank_apply(be, a->dev, &m->lr, x, a->scratch_t, y, err);
}
