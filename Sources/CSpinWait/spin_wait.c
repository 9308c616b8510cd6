// Everything is in the header (an inline function); SwiftPM needs one source file per C target.
#include "CSpinWait.h"
