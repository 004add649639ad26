#include "config.h"
#include "tests/tap.h"
int main(void) { skip_all("todo"); }
