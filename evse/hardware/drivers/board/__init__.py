"""Generic control-board drivers for custom boards: GPIO lines (Linux GPIO character device via libgpiod) and
ADC channels (kernel IIO sysfs), with feedback supervision."""
