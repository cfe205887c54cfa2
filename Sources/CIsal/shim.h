// ISA-L's igzip: only the inflate API (isal_inflate and its state) is used.
#include <isa-l/igzip_lib.h>
