#version 330 core
// Objects: the colour was lit per vertex.

in vec3 v_rgb;
out vec4 o_color;

void main() { o_color = vec4(v_rgb, 1.0); }
