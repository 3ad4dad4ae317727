/* test_status.c — status codes: CL errors pass through by name, library
 * errors have their own range and text. */
#include <string.h>

#include "kvq.h"
#include "internal.h"
#include "tap.h"

int main(void)
{
    plan(8);
    ok(!strcmp(kvq_err_name(-5), "CL_OUT_OF_RESOURCES"), "-5 is CL_OUT_OF_RESOURCES");
    ok(!strcmp(kvq_strerror(-30), "CL_INVALID_VALUE"), "strerror(-30) names CL_INVALID_VALUE");
    ok(!strcmp(kvq_err_name(-1001), "CL_PLATFORM_NOT_FOUND_KHR"), "-1001 named");
    ok(!strcmp(kvq_err_name(KVQ_ERR_BUILD), "KVQ_ERR_BUILD"), "library code named");
    ok(strstr(kvq_strerror(KVQ_ERR_BUILD), "build") != NULL, "library code has a sentence");
    ok(KVQ_ERR_NOMEM < -1100 && KVQ_ERR_INTERNAL < -1100, "library codes below CL's range");
    ok(!strcmp(kvq_err_name(-12345), "KVQ_ERR_UNKNOWN"), "unknown code is named as such");
    ok(kvq_strerror(-12345) != NULL && kvq_strerror(0) != NULL, "never NULL");
    return exit_status();
}
