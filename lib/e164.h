/* Phone numbers in E.164: '+' then 8 to 15 digits, the first not 0. No spaces or dashes. */
#ifndef OD_E164_H
#define OD_E164_H

int e164_valid(const char *number);

#endif
