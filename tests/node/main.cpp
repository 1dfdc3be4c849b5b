// The test runner of pool_node_test: CAF's unit test engine with our
// own main (the test sources each include only caf/test/dsl.hpp).

#define CAF_TEST_NO_MAIN
#define FAIL(msg) CAF_FAIL(msg)

#include "caf/test/dsl.hpp"
#include "caf/test/unit_test_impl.hpp"

int main(int argc, char** argv) {
  return caf::test::main(argc, argv);
}
