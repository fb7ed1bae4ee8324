#version 330 core
// Floor shading per pixel (the spot's pool is smaller than a floor triangle):
// ambient, the sun with a soft contact shadow under the object, and the spot's
// pool, whose edge is the cone's conic on the floor (a quadratic in x and z).

in vec2 v_xz;
flat in vec3 f_q1;
flat in vec3 f_q2;
flat in vec3 f_lin;
flat in vec2 f_center;
flat in vec3 f_base;
flat in vec3 f_sun;
flat in vec3 f_spot;

uniform vec2 u_shadow; // 1/radius^2, strength

out vec4 o_color;

void main() {
    float x = v_xz.x, z = v_xz.y;
    float g = x * (f_q1.x * x + f_q1.y * z + f_q2.x) + z * (f_q1.z * z + f_q2.y) + f_q2.z;
    float ahead = f_lin.x * x + f_lin.y * z + f_lin.z;
    float pool = ahead > 0.0 ? clamp(g, 0.0, 1.0) : 0.0;
    vec2 d = v_xz - f_center;
    float s = max(1.0 - dot(d, d) * u_shadow.x, 0.0);
    o_color = vec4(f_base + f_sun * (1.0 - u_shadow.y * s * s) + f_spot * pool, 1.0);
}
