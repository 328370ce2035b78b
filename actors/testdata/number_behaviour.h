// For test modules whose behaviour keeps one number as its whole state, in every version: create
// starts it at 0, export_state writes it in decimal, code_change reads it back. The behaviour
// `Self` derives from NumberBehaviour<Self> and adds its handlers and format_status; it may hide
// create or code_change with its own, made with `with`.
#ifndef LEMON_ACTORS_TESTDATA_NUMBER_BEHAVIOUR_H_
#define LEMON_ACTORS_TESTDATA_NUMBER_BEHAVIOUR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "actors/module.h"

namespace lemon::testdata {

template <class Self>
class NumberBehaviour : public Behaviour {
 public:
  static std::unique_ptr<Self> create(const std::string&) { return with(0); }
  static std::unique_ptr<Self> code_change(const std::string&, const std::string& state,
                                           const std::string&) {
    return with(std::stoll(state));
  }

  std::string export_state() const override { return std::to_string(number_); }

 protected:
  // A new behaviour whose number is `number`.
  static std::unique_ptr<Self> with(int64_t number) {
    auto self = std::make_unique<Self>();
    self->number_ = number;
    return self;
  }

  int64_t number_ = 0;
};

}  // namespace lemon::testdata

#endif  // LEMON_ACTORS_TESTDATA_NUMBER_BEHAVIOUR_H_
