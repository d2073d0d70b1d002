// Serves the test fixture API (support/api_fixture.h) on 127.0.0.1 for clients in other
// languages (tests/node/): prints "port N" on stdout, then serves until stdin closes.
#include <iostream>
#include <string>

#include "support/api_fixture.h"

int main() {
  a4ps::testing::Served served("real-clients");
  std::cout << "port " << served.port << std::endl;
  for (std::string line; std::getline(std::cin, line);) {
  }
  return 0;
}
