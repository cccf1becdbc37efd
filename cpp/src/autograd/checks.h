// The reverse sweep's checks (checks.cpp).
#pragma once

#include <vector>

#include "tapegrad/rules.h"
#include "tapegrad/tape.h"

namespace tapegrad {

// Throws when entry e cannot run its rule: its saved tensors were freed by an earlier
// backward, or one was modified in place since it was saved (Note [version counters]).
void check_saved(const Entry& e);
// Under detect_anomaly: throws when a rule returned NaN or inf (Note [anomaly mode]).
void check_rule_output(const Entry& e, const Grads& gin);
// Drops the saved tensors of an entry that has been swept (no retain_graph).
void release_saved(Entry& e);

}  // namespace tapegrad
