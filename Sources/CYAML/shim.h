#ifndef SENDPATH_CYAML_SHIM_H
#define SENDPATH_CYAML_SHIM_H
#include <yaml.h>
#endif
