// The op table's lookups: name, backward-node name and backward rule of every recorded op,
// one row of tapegrad/ops.def each.
#include "tapegrad/custom.h"
#include "tapegrad/rules.h"
#include "tapegrad/tape.h"

namespace tapegrad {

namespace {
struct OpInfo {
  const char* name;
  const char* backward_name;
  BackwardFn backward;
};
const OpInfo kOps[] = {
#define TG_OP(code, name, arity, bind, expose, dunder) {#name, #code "Backward0", &backward_##code},
#include "tapegrad/ops.def"
#undef TG_OP
};
}  // namespace

const char* op_name(OpCode op) { return kOps[static_cast<int>(op)].name; }
const char* op_backward_name(OpCode op) { return kOps[static_cast<int>(op)].backward_name; }
const char* entry_backward_name(const Entry& e) {
  if (e.display) return e.display;
  if (e.op == OpCode::Custom && e.attrs.holds<CustomAttrs>())
    return e.attrs.get<CustomAttrs>().node->name().c_str();
  return op_backward_name(e.op);
}
BackwardFn backward_rule(OpCode op) { return kOps[static_cast<int>(op)].backward; }

}  // namespace tapegrad
