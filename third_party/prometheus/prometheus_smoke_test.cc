// Proves prometheus-cpp links and works under Bazel: a counter rendered in the text format.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace {

TEST(PrometheusSmokeTest, CounterSerializesToTextFormat) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter()
                     .Name("lemon_smoke_total")
                     .Help("Smoke test counter.")
                     .Register(*registry);
  family.Add({{"kind", "module"}}).Increment(3);
  prometheus::TextSerializer serializer;
  const std::string text = serializer.Serialize(registry->Collect());
  EXPECT_NE(text.find("# TYPE lemon_smoke_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find("lemon_smoke_total{kind=\"module\"} 3"), std::string::npos) << text;
}

}  // namespace
